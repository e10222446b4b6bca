"""A request's time split by the server's stage histograms, read from /metrics as camserve writes it."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.lib.stage_costs import STAGES, metric_sums, stage_means


def metrics_text(stage_seconds: dict[str, float], request_seconds: float, requests: int) -> str:
    """/metrics after ``requests`` POSTs, each spending the given seconds per stage and in all."""
    registry = CollectorRegistry()
    stages = Histogram("camserve_stage_seconds", "stage", ["stage"], registry=registry)
    http = Histogram("camserve_http_request_seconds", "request", ["method", "route"], registry=registry)
    for _ in range(requests):
        for stage, seconds in stage_seconds.items():
            stages.labels(stage=stage).observe(seconds)
        http.labels(method="POST", route="/predictions").observe(request_seconds)
        http.labels(method="GET", route="/predictions/{id}").observe(9.0)  # not a POST: not counted
    return generate_latest(registry).decode()


def test_sums_are_read_per_stage_and_for_the_post_route_only() -> None:
    sums = metric_sums(metrics_text({"decode": 0.002, "inference": 0.05, "render": 1.0}, 0.06, requests=4))

    assert sums["decode_sum"] == pytest.approx(0.008)
    assert sums["inference_count"] == 4
    assert sums["server_sum"] == pytest.approx(0.24)
    assert "render_sum" not in sums  # not one of the stages a POST goes through


def test_means_split_the_server_time_into_stages_and_the_rest() -> None:
    stage_s = {"decode": 0.002, "queue_wait": 0.001, "inference": 0.05, "store": 0.003}
    block = {"client_s": [0.07, 0.08, 0.09], "sums": metric_sums(metrics_text(stage_s, 0.06, requests=3))}

    means = stage_means([block])

    assert set(means) >= {f"{stage}_ms" for stage in STAGES}
    assert means["requests"] == 3
    assert means["server_mean_ms"] == 60.0
    assert means["other_ms"] == 4.0  # 60 ms in the app, 56 of them in the stages
    assert means["client_p50_ms"] == 80.0
    assert means["beyond_forward_ms"] == 30.0
