"""A level driven by wrk against a tiny server: what it reports from the answers, from /metrics and of CPU."""

from pathlib import Path

import psutil
import pytest

from bench.lib import wrk
from bench.lib.level import CAMSERVE, Endpoint, figures, prepare, run_level
from bench.lib.photos import Photo
from tests.bench.fake_server import FORWARD_S, serving

PHOTOS = [Photo(f"photo{i}", 8, 8, bytes([i]) * 100) for i in range(5)]


@pytest.fixture(autouse=True)
def installed() -> None:
    try:
        wrk.executable()
    except SystemExit as missing:
        pytest.skip(str(missing))


def test_a_level_reports_batches_the_forward_per_photo_and_both_sides_cpu(tmp_path: Path) -> None:
    with serving((201,)) as (url, _):
        server = prepare(tmp_path / "camserve", url, psutil.Process(), PHOTOS, {}, CAMSERVE)
        level = run_level(server, concurrency=2, seconds=1, warmup_s=1)

    assert (level["concurrency"], level["warmup_s"], level["errors"], level["failures"]) == (2, 1, 0, {})
    assert level["throughput_rps"] == pytest.approx(level["requests"] / level["wall_s"], rel=0.01)
    assert level["batch_mean"] == 2.0  # the fake counts every upload a batch of 2
    assert level["server_forward_ms_per_photo"] == pytest.approx(1000.0 * FORWARD_S / 2)
    assert level["server_cpu_ms_per_request"] > 0 and level["client_cpu_ms_per_request"] > 0


def test_a_peer_counts_its_own_success_and_reads_no_metrics(tmp_path: Path) -> None:
    peer = Endpoint(path="/predict", success="200", camserve=False)
    with serving((200, 503)) as (url, _):
        server = prepare(tmp_path / "peer", url, psutil.Process(), PHOTOS, {}, peer)
        level = run_level(server, concurrency=1, seconds=1, warmup_s=0)

    assert level["errors"] == level["status_503"] == level["failures"]["503"] > 0
    assert (level["batch_mean"], level["server_forward_ms_per_photo"]) == (None, None)


def test_figures_count_refusals_and_failed_sockets_as_errors() -> None:
    run = wrk.WrkRun(
        requests=6,
        duration_s=2.0,
        statuses={"201": 4, "503": 2},
        socket_errors={"connect": 0, "read": 1, "write": 0, "timeout": 3},
        latency_ms={"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0},
        cpu_s=0.01,
    )

    result = figures(run, "201")

    assert (result["throughput_rps"], result["errors"], result["status_503"]) == (2.0, 6, 2)
    assert result["failures"] == {"503": 2, "read": 1, "timeout": 3}
    assert result["p99_ms"] == 30.0
