"""deploy/'s manifests under ``podman kube play`` with the CPU image, by scripts/kube_play_smoke.sh.

The pod becomes ready, answers a POST and a v2 infer, comes back after its main process is killed (its restart
policy) and is torn down. Needs root (podman, apt) and a few minutes for the image build; marked ``container``
and ``slow`` like tests/scripts/test_container_smoke.py, so only ``make test-all`` runs it.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kube_play_smoke.sh"
TIMEOUT_S = 1500


@pytest.mark.container
@pytest.mark.slow
def test_the_manifests_play_serve_heal_and_come_down() -> None:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("podman and apt need root here")
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "kube_play_smoke: passed" in done.stdout
