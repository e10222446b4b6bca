"""The CPU image, built and run with podman by scripts/container_smoke.sh: the README's docker commands, proven.

Needs root (podman, apt, debootstrap) and about five minutes; marked ``container`` so ``make test-fast`` leaves
it out, and ``slow`` so CI's ``make test`` does too (it was a fifth of CI's 25 minutes): ``make test-all`` runs it.
"""

import pytest

from tests.support.smoke_scripts import run_smoke_script


@pytest.mark.container
@pytest.mark.slow
def test_the_image_builds_serves_and_keeps_its_results() -> None:
    run_smoke_script("container_smoke", "podman, apt and debootstrap")
