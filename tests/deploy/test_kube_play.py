"""deploy/'s manifests under ``podman kube play`` with the CPU image, by scripts/kube_play_smoke.sh.

The pod becomes ready, answers a POST and a v2 infer, comes back after its main process is killed (its restart
policy) and is torn down. Needs root (podman, apt) and a few minutes for the image build; marked ``container``
and ``slow`` like tests/scripts/test_container_smoke.py, so only ``make test-all`` runs it.
"""

import pytest

from tests.support.smoke_scripts import run_smoke_script


@pytest.mark.container
@pytest.mark.slow
def test_the_manifests_play_serve_heal_and_come_down() -> None:
    run_smoke_script("kube_play_smoke", "podman and apt")
