"""How much memory does a burst of large-photo requests take, and does it come back?

A real ``camserve serve`` stores a few large photos (24 megapixels by default), settles, and is then sent the
burst of ``bench.lib.memory_burst`` (store=false POSTs, overlay and heatmap GETs, zoom with TTA, the second
model) all at once, while small photos are posted beside it. Printed and written: the server's RSS before, its
peak (sampled every 20 ms) and 10 s after the burst; the statuses by kind; the small photos' latency while the
burst runs; with ``--limit-mib``, the server runs in a memory cgroup of that size and its peak and OOM kills are
read from the cgroup too.

Run from the repository root, in the project's venv::

    python -m bench.memory --limit-mib 1536
    python -m bench.memory --env MALLOC_ARENA_MAX=8 MALLOC_MMAP_THRESHOLD_=33554432   # glibc's own defaults

``camserve serve`` sets glibc's arenas and mmap threshold itself (service/allocator.py) unless the environment
sets them, so ``--env MALLOC_...`` compares other settings.

Against an older commit, install it beside this one and put it first on the server's path (see bench/README.md)::

    git worktree add /tmp/baseline ae3759e
    pip install --quiet --no-deps --no-build-isolation --target /tmp/baseline-site /tmp/baseline
    python -m bench.memory --env PYTHONPATH=/tmp/baseline-site

Writes bench/results/memory.json.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.lib.cgroup import MemoryCgroup, memory_cgroup
from bench.lib.load_generator import quantiles_ms
from bench.lib.memory_burst import (
    Answer,
    burst_mix,
    readable,
    run_burst,
    sampled_peak,
    statuses,
    store_photos,
)
from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import generated_photos, large_photo
from bench.lib.server import api_headers, parse_env, running_server, server_process
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results

MIB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="*", default=[], metavar="KEY=VALUE", help="the server's environment")
    parser.add_argument("--requests", type=int, default=32, help="requests in the burst (default 32)")
    parser.add_argument("--width", type=int, default=6000, help="large photo width (default 6000)")
    parser.add_argument("--height", type=int, default=4000, help="large photo height (default 4000)")
    parser.add_argument("--stored", type=int, default=3, help="large photos stored for the GETs (default 3)")
    parser.add_argument("--small-connections", type=int, default=2, help="connections posting small photos")
    parser.add_argument("--after-s", type=float, default=10.0, help="when RSS is read after the burst (default 10)")
    parser.add_argument("--limit-mib", type=int, help="run the server in a memory cgroup of this size")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "memory.json", help="JSON results")
    args = parser.parse_args()
    try:
        env = parse_env(args.env)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))

    big = large_photo(args.width, args.height, seed=0)
    (small,) = generated_photos([(200, 200)], 1, seed=0)
    headers = api_headers()
    load_before = load_average_1m()
    with tempfile.TemporaryDirectory(prefix="camserve-memory-") as tmp, ExitStack() as stack:
        cgroup = None
        if args.limit_mib:
            cgroup = stack.enter_context(memory_cgroup("camserve-bench-memory", args.limit_mib * MIB))
        client, _ = stack.enter_context(running_server(Path(tmp), env, cgroup))
        base_url, server = str(client.base_url), server_process(client)
        ids = asyncio.run(store_photos(base_url, headers, big, args.stored))
        time.sleep(args.after_s)  # the stores' own allocations settle, as they will after the burst
        before, anon_before = server.memory_info().rss, _anonymous(server)
        calls = burst_mix(ids, big, args.requests)
        started = time.perf_counter()
        with sampled_peak(server) as peak:
            answers, small_answers = asyncio.run(run_burst(base_url, headers, calls, small, args.small_connections))
        burst_s = time.perf_counter() - started
        time.sleep(args.after_s)  # the point of the figure: what is still held this long after
        after, anon_after = _rss(server), _anonymous(server)
        unreadable = asyncio.run(readable(base_url, headers, answers)) if after is not None else ["server gone"]
        results = _results(args, env, before, peak.bytes, after, burst_s, answers, small_answers, unreadable, cgroup)
        results["rss_anonymous_mib"] = {"before": anon_before, "after": anon_after}
    results.update(machine_facts(load_before, load_average_1m()))
    write_results(args.output, results)
    _print(results)
    print(f"wrote {args.output}")


def _rss(server: psutil.Process) -> int | None:
    """The server's RSS, or None once it is gone (killed by the kernel for passing the cgroup's limit)."""
    try:
        if server.status() == psutil.STATUS_ZOMBIE:
            return None
        rss: int = server.memory_info().rss
    except psutil.Error:
        return None
    return rss


def _anonymous(server: psutil.Process) -> float | None:
    """The anonymous part of the server's RSS in MiB (heap and arrays, not mapped files), from /proc; None once
    it is gone. What stays after a burst is in it, unless a library mapped files meanwhile."""
    try:
        for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _results(
    args: argparse.Namespace,
    env: dict[str, str],
    before: int,
    peak: int,
    after: int | None,
    burst_s: float,
    answers: list[Answer],
    small_answers: list[Answer],
    unreadable: list[str],
    cgroup: MemoryCgroup | None,
) -> dict[str, Any]:
    small_ok = [a.latency_s for a in small_answers if a.status == "201"]
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "env": env,
        "photo": f"{args.width}x{args.height}",
        "requests": args.requests,
        "rss_before_mib": round(before / MIB, 1),
        "rss_peak_mib": round(peak / MIB, 1),
        "rss_after_mib": None if after is None else round(after / MIB, 1),
        "after_s": args.after_s,
        "burst_s": round(burst_s, 2),
        "statuses": statuses(answers),
        "unreadable_201s": unreadable,
        "small": {
            "sent": len(small_answers),
            "statuses": statuses(small_answers).get("small", {}),
            **quantiles_ms(small_ok),
            "max_ms": round(1000.0 * max(small_ok), 1) if small_ok else None,
            "mean_ms": round(1000.0 * statistics.fmean(small_ok), 1) if small_ok else None,
        },
    }
    if cgroup is not None:
        results["cgroup"] = {
            "limit_mib": args.limit_mib,
            "peak_mib": round(cgroup.peak_bytes() / MIB, 1),
            "oom_kills": cgroup.oom_kills(),
            "limit_hits": cgroup.limit_hits(),
        }
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"{results['requests']} requests of {results['photo']} ({results['burst_s']} s), env {results['env'] or '{}'}:"
    )
    print(
        f"  RSS before {results['rss_before_mib']} MiB, peak {results['rss_peak_mib']} MiB, "
        f"{results['after_s']:.0f} s after {results['rss_after_mib']} MiB; anonymous {results['rss_anonymous_mib']}"
    )
    print(f"  statuses: {results['statuses']}")
    small = results["small"]
    print(f"  small photos beside it: {small['sent']} sent, p50 {small['p50_ms']} ms, p99 {small['p99_ms']} ms")
    if results["unreadable_201s"]:
        print(f"  unreadable 201s: {results['unreadable_201s']}", file=sys.stderr)
    if "cgroup" in results:
        print(f"  cgroup: {results['cgroup']}")


if __name__ == "__main__":
    main()
