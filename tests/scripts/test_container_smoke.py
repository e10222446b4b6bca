"""The CPU image, built and run with podman by scripts/container_smoke.sh: the README's docker commands, proven.

Needs root (podman, apt, debootstrap) and minutes; marked ``container`` so ``make test-fast`` leaves it out.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "container_smoke.sh"
TIMEOUT_S = 1500


@pytest.mark.container
def test_the_image_builds_serves_and_keeps_its_results() -> None:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("podman, apt and debootstrap need root here")
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "container_smoke: passed" in done.stdout
