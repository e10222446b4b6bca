"""Whether a long run leaks: memory, file descriptors or forward hooks that grow with every request served.

Starts a real ``camserve serve`` subprocess (free port, temporary store) and keeps ``--concurrency``
``POST /predictions`` in flight with small generated JPEGs of mixed sizes until ``--requests`` were sent or
``--max-seconds`` passed. The server process's RSS and open file descriptors, and the
``camserve_registered_hooks`` gauge from /metrics, are read once after a warm-up (the first 5% of the
requests or 200, whichever is smaller, but at least one per connection, so every connection is open for
the baseline) and again at the end, both with the same idle keep-alive connections open. Latency and
throughput are for the requests after the warm-up; errors count them all.

The 1-minute load average before and after is recorded; a run where it is well above the number of CPUs
measured the neighbours as much as camserve.

Run from the repository root, in the project's venv::

    python -m bench.soak
    python -m bench.soak --requests 300

Prints a table and writes bench/results/soak.json.
"""

import argparse
import asyncio
import itertools
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.lib.load_generator import quantiles_ms, send_all, uploads
from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import Photo, generated_photos
from bench.lib.results import machine_summary
from bench.lib.server import api_headers, running_server, server_process
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results

SIZES = [(64, 48), (160, 120), (320, 240), (500, 375), (375, 500), (640, 480)]
PHOTOS_PER_SIZE = 8
WARMUP_FRACTION = 0.05
WARMUP_MAX = 200
HOOKS_GAUGE = "camserve_registered_hooks"
RSS_GROWTH_TARGET_PCT = 10.0


@dataclass(frozen=True)
class Snapshot:
    """The server process as seen from outside at one idle moment."""

    rss_bytes: int
    open_fds: int
    registered_hooks: float


def warmup_count(requests: int, concurrency: int) -> int:
    return min(requests, max(concurrency, min(math.ceil(WARMUP_FRACTION * requests), WARMUP_MAX)))


def snapshot(client: httpx.Client, server: psutil.Process) -> Snapshot:
    """Read through ``running_server``'s own client, so its keep-alive connection is open at every reading
    (the server closes idle ones after its keep-alive timeout, which would otherwise show as a changed fd count)."""
    response = client.get("/metrics")
    response.raise_for_status()
    hooks = next(
        (
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == HOOKS_GAUGE
        ),
        None,
    )
    if hooks is None:
        sys.exit(f"/metrics has no {HOOKS_GAUGE} gauge")
    return Snapshot(server.memory_info().rss, server.num_fds(), hooks)


async def soak(
    client: httpx.Client,
    server: psutil.Process,
    photos: list[Photo],
    requests: int,
    concurrency: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Warm-up, baseline snapshot, the rest of the requests, final snapshot; one upload client throughout, so
    its connections are open at both snapshots (which block the loop only while nothing is in flight)."""
    headers = api_headers()
    warmup = warmup_count(requests, concurrency)
    deadline = time.monotonic() + max_seconds
    async with uploads(str(client.base_url), headers, concurrency) as session:
        warmup_order = itertools.islice(itertools.cycle(photos), warmup)
        warm = await send_all(session, warmup_order, concurrency, deadline=deadline)
        before = snapshot(client, server)
        rest = itertools.islice(itertools.cycle(photos), len(warm), requests)
        started = time.perf_counter()
        measured = await send_all(session, rest, concurrency, deadline=deadline)
        wall_s = time.perf_counter() - started
        after = snapshot(client, server)
    outcomes = warm + measured
    ok = [o for o in measured if o.status == "201"]
    return {
        "requested": requests,
        "sent": len(outcomes),
        "stopped_by_max_seconds": len(outcomes) < requests,
        "warmup": len(warm),
        "concurrency": concurrency,
        "measured_wall_s": round(wall_s, 2),
        "throughput_rps": round(len(ok) / wall_s, 2) if wall_s > 0 else None,
        **quantiles_ms([o.latency_s for o in ok]),
        "errors_by_status": dict(Counter(o.status for o in outcomes if o.status.isdigit() and o.status != "201")),
        "transport_errors": dict(Counter(o.status for o in outcomes if not o.status.isdigit())),
        "after_warmup": asdict(before),
        "at_end": asdict(after),
    }


def targets(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's value, its bound and whether it was met."""
    before, after = run["after_warmup"], run["at_end"]
    growth = round(100.0 * (after["rss_bytes"] - before["rss_bytes"]) / before["rss_bytes"], 2)
    errors = sum(run["errors_by_status"].values()) + sum(run["transport_errors"].values())
    changes = {
        "open_fds_change": after["open_fds"] - before["open_fds"],
        "registered_hooks_change": after["registered_hooks"] - before["registered_hooks"],
        "errors": errors,
    }
    rss = {"value": growth, "target": f"< {RSS_GROWTH_TARGET_PCT}", "met": growth < RSS_GROWTH_TARGET_PCT}
    return {"rss_growth_pct": rss} | {
        name: {"value": change, "target": "== 0", "met": change == 0} for name, change in changes.items()
    }


def print_table(results: dict[str, Any]) -> None:
    """Baseline beside final figures, then the targets, so a leak is visible at a glance."""
    run = results["run"]
    print(
        f"sent {run['sent']} of {run['requested']} at concurrency {run['concurrency']} "
        f"({run['warmup']} warm-up){' - stopped by --max-seconds' if run['stopped_by_max_seconds'] else ''}; "
        f"server {results['server']['device']}/{results['server']['precision']}; "
        f"{machine_summary(results)}"
    )
    before, after = run["after_warmup"], run["at_end"]
    print(f"{'':20} {'after warm-up':>14} {'at end':>14}")
    print(f"{'RSS MiB':20} {before['rss_bytes'] / 2**20:14.1f} {after['rss_bytes'] / 2**20:14.1f}")
    print(f"{'open fds':20} {before['open_fds']:14d} {after['open_fds']:14d}")
    print(f"{'registered hooks':20} {before['registered_hooks']:14g} {after['registered_hooks']:14g}")
    p50, p99 = (f"{run[key]:.1f}" if run[key] is not None else "-" for key in ("p50_ms", "p99_ms"))
    print(f"after warm-up: {run['throughput_rps']} req/s, p50 {p50} ms, p99 {p99} ms over {run['measured_wall_s']} s")
    by_status, transport = run["errors_by_status"] or "none", run["transport_errors"] or "none"
    print(f"errors by status: {by_status}; transport errors: {transport}")
    print("targets:")
    for name, target in results["targets"].items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"  {name:24} {target['value']!s:>8}  (target {target['target']}: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests to send (default 10000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop sending after this (default 1800)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "soak.json", help="JSON results")
    args = parser.parse_args()
    if args.concurrency < 1 or args.max_seconds <= 0:
        parser.error("--concurrency and --max-seconds must be positive")
    if args.requests < args.concurrency + 2:
        parser.error("--requests must exceed the warm-up by at least 2 to have quantiles")

    photos = generated_photos(SIZES, PHOTOS_PER_SIZE, args.seed)
    load_before = load_average_1m()
    with tempfile.TemporaryDirectory(prefix="camserve-soak-") as tmp, running_server(Path(tmp)) as (client, ready):
        server = server_process(client)
        run = asyncio.run(soak(client, server, photos, args.requests, args.concurrency, args.max_seconds))
    load_after = load_average_1m()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": {"device": ready["device"], "precision": ready["precision"], "model": ready["model"]},
        "photos": {
            "origin": "generated",
            "count": len(photos),
            "sizes": [f"{w}x{h}" for w, h in SIZES],
            "jpeg_bytes_mean": round(statistics.fmean(len(p.data) for p in photos)),
        },
        "run": run,
        "targets": targets(run),
        **machine_facts(load_before, load_after),
    }
    write_results(args.output, results)
    print_table(results)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
