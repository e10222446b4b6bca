"""Running a root-only smoke script (scripts/*_smoke.sh) from a test: skipped without root outside CI, its
output printed, and passed only on exit 0 with its own "NAME: passed" line."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TIMEOUT_S = 1500


def run_smoke_script(name: str, needs: str) -> None:
    """Run scripts/``name``.sh; ``needs`` says what it needs root for, in the skip's reason."""
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip(f"{needs} need root here")
    done = subprocess.run([str(SCRIPTS / f"{name}.sh")], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"{name}: passed" in done.stdout
