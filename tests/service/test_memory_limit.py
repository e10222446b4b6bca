"""A real server in a memory cgroup at the deployment's limit, sent 32 large-photo requests at once: the kernel
kills nothing, every answer is a success or a 503, and every result stored is there to read afterwards.

Needs a writable memory cgroup (root, v1 or delegated v2): it skips where there is none, and fails instead in
CI (CI=true), where a missing cgroup is a broken set-up, as a missing browser is for tests/e2e.
"""

import os
from pathlib import Path

import pytest
import yaml

from bench.lib import cgroup
from bench.lib.memory_burst import Answer, burst_mix, readable, run_burst, statuses, store_photos
from bench.lib.photos import generated_photos, large_photo
from bench.lib.server import running_server
from tests.support.aio import run_in_own_loop

pytestmark = pytest.mark.memory_limit

DEPLOYMENT = Path(__file__).resolve().parents[2] / "deploy" / "deployment.yaml"
BURST = 32
ANSWERS = {"200", "201", "503"}
UNITS = {"Mi": 1024**2, "Gi": 1024**3}


def deployment_memory_limit() -> int:
    """The camserve container's memory limit in deploy/deployment.yaml, in bytes."""
    (deployment,) = [doc for doc in yaml.safe_load_all(DEPLOYMENT.read_text()) if doc]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "camserve"]
    limit: str = container["resources"]["limits"]["memory"]
    return int(limit[:-2]) * UNITS[limit[-2:]]


def unexpected(answers: list[Answer]) -> dict[str, dict[str, int]]:
    """Answers other than a success or a 503, by kind and status."""
    return statuses([answer for answer in answers if answer.status not in ANSWERS])


def test_a_burst_of_large_photos_stays_within_the_deployments_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = cgroup.unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the memory-limit test: {reason}")
        pytest.skip(reason)
    big = large_photo(6000, 4000, seed=0)  # 24 megapixels, within the default pixel limit
    (small,) = generated_photos([(200, 200)], 1, seed=0)
    # No MALLOC_* variables: camserve serve sets glibc's allocator itself (service/allocator.py); without that,
    # two runs here in a row were killed (1528 MiB anonymous, with the budget at 640 MiB).
    for variable in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(variable, raising=False)
    env = {"CAMSERVE_BACKEND": "openvino"}  # what auto chooses on these CPUs, without timing the runtimes first
    with (
        cgroup.memory_cgroup("camserve-test-memory", deployment_memory_limit()) as group,
        running_server(tmp_path, env, group) as (client, _),
    ):
        base_url = str(client.base_url)
        stored = run_in_own_loop(store_photos(base_url, {}, big, 2))
        answers, small_answers = run_in_own_loop(run_burst(base_url, {}, burst_mix(stored, big, BURST), small, 1))
        unreadable = run_in_own_loop(readable(base_url, {}, answers))
        assert client.get("/healthz").status_code == 200
        oom_kills, peak = group.oom_kills(), group.peak_bytes()
    assert oom_kills == 0, f"the kernel killed the server (peak {peak / 2**20:.0f} MiB)"
    assert unexpected(answers + small_answers) == {}
    assert unreadable == []
    assert sum(answer.status in ("200", "201") for answer in answers) > 0, statuses(answers)
