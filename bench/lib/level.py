"""One concurrency level against a running server, driven by wrk: throughput, latency, errors, CPU per request.

A level warms up at its own concurrency first (connections open, batches formed), waits until the server has
answered what the warm-up left in flight (``settle``), then is timed (and waits again, so no round's leftovers
run into the next), with the CPU the server and wrk spent and, for camserve, the forward totals
from its /metrics. wrk cannot read the answers, so what the server says of its forwards comes from /metrics
alone; its latency quantiles are over every answer, refusals included (their count is beside them).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.lib import wrk
from bench.lib.photos import Photo
from bench.lib.server import cpu_seconds, settle

FORWARD_TOTALS = (
    "camserve_inference_batch_size_count",
    "camserve_inference_batch_size_sum",
    "camserve_inference_seconds_sum",
)
# The figures of a level that benchmarks taking turns report the median of, over rounds.
LEVEL_MEDIANS = (
    "throughput_rps",
    "p50_ms",
    "p99_ms",
    "server_cpu_ms_per_request",
    "client_cpu_ms_per_request",
    "batch_mean",
    "errors",
)


@dataclass(frozen=True)
class Endpoint:
    """Where a server takes uploads, what body it takes a photo as, and the status it answers one with:
    camserve's ``POST /predictions`` by default, a peer server's own elsewhere (bench/serving.py). Only
    camserve's /metrics has the forward totals (``camserve``)."""

    path: str = "/predictions"
    success: str = "201"
    camserve: bool = True
    body: wrk.BodyBuilder = wrk.multipart


CAMSERVE = Endpoint()


@dataclass(frozen=True)
class Target:
    """A running server as wrk drives it: its requests written out once, the process whose CPU is counted."""

    url: str
    process: psutil.Process
    endpoint: Endpoint
    headers: dict[str, str]
    requests: wrk.Requests


def prepare(
    directory: Path,
    url: str,
    process: psutil.Process,
    photos: list[Photo],
    headers: dict[str, str],
    endpoint: Endpoint = CAMSERVE,
) -> Target:
    """Write every photo's request for ``endpoint`` under ``directory`` (a folder not yet there)."""
    requests = wrk.write_requests(directory, url, endpoint.path, headers, photos, endpoint.body)
    return Target(url, process, endpoint, headers, requests)


def run_level(server: Target, concurrency: int, seconds: int, warmup_s: int) -> dict[str, Any]:
    """One level: ``warmup_s`` untimed seconds at the same concurrency (none for 0), then ``seconds`` timed."""
    if warmup_s:
        wrk.run(server.requests, concurrency, warmup_s)
    settled_s = settle(server.process)
    forwards = forward_totals(server)
    server_cpu = cpu_seconds(server.process)
    timed = wrk.run(server.requests, concurrency, seconds)
    server_cpu = cpu_seconds(server.process) - server_cpu
    settled_s += settle(server.process)
    forwards = {name: total - forwards[name] for name, total in forward_totals(server).items()}
    batches, forwarded, forward_s = (forwards.get(name, 0.0) for name in FORWARD_TOTALS)
    return {
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        **figures(timed, server.endpoint.success),
        "server_cpu_ms_per_request": per_request_ms(server_cpu, timed.requests),
        "client_cpu_ms_per_request": per_request_ms(timed.cpu_s, timed.requests),
        "batch_mean": round(forwarded / batches, 2) if batches else None,
        "settled_s": settled_s,
        "server_forward_ms_per_photo": round(1000.0 * forward_s / forwarded, 2) if forwarded else None,
    }


def figures(run: wrk.WrkRun, success: str) -> dict[str, Any]:
    """Throughput counts only successes over the timed run; every other answer and every failed socket (by how
    it failed) is an error."""
    ok = run.statuses.get(success, 0)
    failures = {status: count for status, count in run.statuses.items() if status != success}
    failures |= {kind: count for kind, count in run.socket_errors.items() if count}
    return {
        "requests": run.requests,
        "wall_s": round(run.duration_s, 2),
        "throughput_rps": round(ok / run.duration_s, 2),
        **run.latency_ms,
        "errors": sum(failures.values()),
        "status_503": run.statuses.get("503", 0),
        "failures": failures,
    }


def per_request_ms(cpu_s: float, requests: int) -> float | None:
    return round(1000.0 * cpu_s / requests, 2) if requests else None


def forward_totals(server: Target) -> dict[str, float]:
    """The server's running totals of forward passes, photos forwarded and forward seconds, from /metrics:
    their change over a level says how big its batches were and what a photo's forward cost in the server.
    Empty for a server other than camserve, whose /metrics (if any) says nothing of the kind."""
    if not server.endpoint.camserve:
        return {}
    response = httpx.get(f"{server.url}/metrics", headers=server.headers, timeout=60.0)
    response.raise_for_status()
    totals = dict.fromkeys(FORWARD_TOTALS, 0.0)
    for metric in text_string_to_metric_families(response.text):
        for sample in metric.samples:
            if sample.name in totals:  # one series per served model: the sum is every forward
                totals[sample.name] += sample.value
    return totals
