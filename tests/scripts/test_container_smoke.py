"""The CPU image, built and run with podman by scripts/container_smoke.sh: the README's docker commands, proven.

Needs root (podman, apt, debootstrap) and about five minutes; marked ``container`` so ``make test-fast`` leaves
it out, and ``slow`` so CI's ``make test`` does too (it was a fifth of CI's 25 minutes): ``make test-all`` runs it.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "container_smoke.sh"
TIMEOUT_S = 1500


@pytest.mark.container
@pytest.mark.slow
def test_the_image_builds_serves_and_keeps_its_results() -> None:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("podman, apt and debootstrap need root here")
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "container_smoke: passed" in done.stdout
