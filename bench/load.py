"""How close concurrent traffic gets to what the model alone can do, and what it costs in latency.

Starts a real ``camserve serve`` subprocess (free port, temporary store) and, for each concurrency level,
keeps that many ``POST /predictions`` in flight for a fixed time, sent by wrk (bench/lib/level.py), with
real JPEGs of mixed sizes (cats and dogs from ../shared/data/catsdogs where present, else generated photos),
reporting throughput, latency quantiles, refusals, and the CPU time the server and wrk spent per request.
From the server's /metrics it also reports each level's mean batch size and the forward's time per photo
inside the server, to set beside the bare forward at that batch size.

The limit is the bare ``predict`` forward of the served runtime, timed in this process at the device and precision
/readyz reported, on the service's own inputs, while the server sits idle. The cores here are shared with
other machines' work, which comes and goes within seconds and moved the bare batch-1 forward between 47
and 64 ms from one run to the next, so every ratio compares numbers taken in the same minute:

- the single-request reference (concurrency 1, 500x375 photos only) alternates one POST and one batch-1
  forward, never concurrent: the one level sent from Python (bench/lib/load_generator.py), since wrk cannot
  wait for a forward between its requests; it also reports the server's own ``inference_ms``;
- every concurrency level is bracketed by a table of bare forwards at each batch size, one just before and
  one just after it, and is compared with their mean.

The 1-minute load average before and after is recorded; a run where it is well above the number of CPUs
measured the neighbours as much as camserve.

Run from the repository root, in the project's venv::

    python -m bench.load
    python -m bench.load --concurrency 1 4 16 64 --seconds 30
    python -m bench.load --env CAMSERVE_BATCH_MAX_SIZE=16 --env CAMSERVE_BATCH_MAX_WAIT_MS=5

Prints a table and writes bench/results/load.json and bench/results/load.png.
"""

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.lib.forward import ForwardTimer, Table, best_photos_per_s, mean_table
from bench.lib.level import prepare, run_level
from bench.lib.load_generator import Outcome, post, summarise, uploads
from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import SIZES, Photo, build_photos
from bench.lib.plots import concurrency_plot
from bench.lib.results import cell, machine_summary, ratio
from bench.lib.server import api_headers, parse_env, running_server, server_process
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results

REFERENCE_SIZE = (500, 375)  # the single-request target is stated for a ~500x375 JPEG
REFERENCE_WARMUP = 5  # untimed POSTs before the reference's
TARGETS = {
    "c1_p50_over_forward_b1": ("<=", 1.25),
    "c16_throughput_over_best_forward": (">=", 0.8),
    "c64_errors": ("<=", 0),
    "c64_p99_over_c16_p50": ("<=", 3.0),
}


async def run_reference(
    base_url: str, headers: dict[str, str], photos: list[Photo], timer: ForwardTimer, requests: int, warmup: int
) -> dict[str, Any]:
    """One POST, then one bare batch-1 forward of that photo, in turn: the two see the same background load."""
    forward_s: list[float] = []
    outcomes: list[Outcome] = []
    async with uploads(base_url, headers, 1) as http:
        for index, photo in enumerate(itertools.islice(itertools.cycle(photos), warmup + requests)):
            outcome = await post(http, photo)
            forward = timer.seconds(timer.photo(photo))
            if index >= warmup:
                outcomes.append(outcome)
                forward_s.append(forward)
    wall_s = sum(o.latency_s for o in outcomes)
    return {
        "concurrency": 1,
        "warmup": warmup,
        **summarise(outcomes, wall_s),
        "forward_b1_p50_ms": round(statistics.median(forward_s) * 1000.0, 2),
    }


@dataclass(frozen=True)
class LoadRun:
    ready: dict[str, Any]
    reference: dict[str, Any]
    levels: list[dict[str, Any]]
    tables: list[Table]
    precision: str
    device: str


@dataclass(frozen=True)
class Plan:
    """How long each level runs, how many POSTs the reference takes, and the bare forward tables between."""

    levels: list[int]
    seconds: int
    warmup_s: int
    reference_requests: int
    batch_sizes: list[int]
    reps: int


def measure(photos: list[Photo], plan: Plan) -> LoadRun:
    """Start the server; run the interleaved 500x375 reference, then every level between two forward tables."""
    reference_photos = [p for p in photos if (p.width, p.height) == REFERENCE_SIZE]
    headers = api_headers()
    with tempfile.TemporaryDirectory(prefix="camserve-load-") as tmp, running_server(Path(tmp)) as (http, ready):
        base_url = str(http.base_url)
        server = prepare(Path(tmp) / "requests", base_url, server_process(http), photos, headers)
        timer = ForwardTimer.served(ready, photos)
        reference = asyncio.run(
            run_reference(base_url, headers, reference_photos, timer, plan.reference_requests, REFERENCE_WARMUP)
        )
        print(f"  reference c1 500x375: p50 {reference['p50_ms']} ms", file=sys.stderr)
        tables = [timer.table(plan.batch_sizes, plan.reps)]
        results = []
        for concurrency in plan.levels:
            level = run_level(server, concurrency, plan.seconds, plan.warmup_s)
            tables.append(timer.table(plan.batch_sizes, plan.reps))
            limit = statistics.fmean(best_photos_per_s(table) for table in tables[-2:])
            level["forward_best_photos_per_s"] = round(limit, 2)
            level["throughput_over_forward"] = round(level["throughput_rps"] / limit, 3)
            print(
                f"  concurrency {concurrency:3d}: {level['throughput_rps']:7.2f} req/s, limit {limit:.2f}, "
                f"client cpu {level['client_cpu_ms_per_request']} ms/request",
                file=sys.stderr,
            )
            results.append(level)
    return LoadRun(ready, reference, results, tables, timer.predictor.precision, str(timer.predictor.device))


def ratios(reference: dict[str, Any], levels: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, each from numbers taken in the same minute; a level not run gives None."""
    by_concurrency = {level["concurrency"]: level for level in levels}
    c16, c64 = by_concurrency.get(16, {}), by_concurrency.get(64, {})
    values = {
        "c1_p50_over_forward_b1": ratio(reference["p50_ms"], reference["forward_b1_p50_ms"]),
        "c16_throughput_over_best_forward": c16.get("throughput_over_forward"),
        "c64_errors": c64.get("errors"),
        "c64_p99_over_c16_p50": ratio(c64.get("p99_ms"), c16.get("p50_ms")),
    }
    results = {}
    for name, value in values.items():
        op, target = TARGETS[name]
        met = None if value is None else (value <= target if op == "<=" else value >= target)
        results[name] = {"value": value, "target": f"{op} {target}", "met": met}
    return results


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput and latency against concurrency, each with the bare forward's bound drawn across."""
    levels, forward = results["levels"], results["forward"]
    concurrency = [level["concurrency"] for level in levels]
    served = f"{forward['device']}/{forward['precision']}"
    title = f"camserve load, {served}, {results['photos']['origin']} JPEGs, {results['measured_at']}"
    with concurrency_plot(path, title, concurrency) as (throughput, latency):
        throughput.plot(concurrency, [level["throughput_rps"] for level in levels], "o-", label="POST /predictions")
        limits = [level["forward_best_photos_per_s"] for level in levels]
        throughput.plot(concurrency, limits, "x--", color="grey", label="limit: best bare forward, same minute")
        for name, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
            latency.plot(concurrency, [level[name] for level in levels], style, label=name.removesuffix("_ms"))
        reference_ms = results["reference"]["forward_b1_p50_ms"]
        latency.axhline(reference_ms, color="grey", ls="--", label="bare forward, batch 1")


def print_table(results: dict[str, Any]) -> None:
    """The JSON's headline numbers, so runs can be compared at a glance."""
    torch_info, forward = results["torch"], results["forward"]
    print(
        f"{results['photos']['count']} {results['photos']['origin']} JPEGs; "
        f"server {results['server']['backend']} {results['server']['device']}/{results['server']['precision']}; "
        f"torch {torch_info['version']}, {torch_info['threads']} threads, OMP_WAIT_POLICY "
        f"{torch_info['omp_wait_policy']}, {machine_summary(results)}"
    )
    headings = (
        "reqs",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "503",
        "infer ms",
        "limit/s",
        "srv cpu",
        "cli cpu",
        "batch",
        "fwd/photo",
    )
    widths = (5, 8, 9, 9, 9, 8, 5, 9, 8, 8, 8, 6, 10)
    print(f"{'level':>14} " + " ".join(f"{h:>{w}}" for h, w in zip(headings, widths, strict=True)))
    rows = [("c1 500x375", results["reference"])] + [(f"c{lv['concurrency']}", lv) for lv in results["levels"]]
    for name, row in rows:
        keys = ("p50_ms", "p95_ms", "p99_ms", "server_inference_mean_ms")
        p50, p95, p99, inference = (cell(row.get(k), 9) for k in keys)
        extra_keys = ("forward_best_photos_per_s", "server_cpu_ms_per_request", "client_cpu_ms_per_request")
        keys_widths = [(k, 8) for k in extra_keys] + [("batch_mean", 6), ("server_forward_ms_per_photo", 10)]
        extra = (cell(row.get(k), w) for k, w in keys_widths)
        print(
            f"{name:>14} {row['requests']:5d} {row['throughput_rps']:8.2f} {p50} {p95} {p99} "
            f"{row['errors']:8d} {row['status_503']:5d} {inference} {' '.join(extra)}"
        )
    forward_b1 = results["reference"]["forward_b1_p50_ms"]
    print(f"(c1 500x375 alternates one POST and one bare batch-1 forward: forward p50 {forward_b1} ms)")
    print("(cli cpu: wrk's own CPU per request, at every level but c1 500x375, which Python sends)")
    for name, row in rows:
        if row["failures"]:
            print(f"{name:>14} failures: {row['failures']}")
    tables = len(forward["tables"])
    served = f"{forward['device']}/{forward['precision']}"
    print(f"bare forward ({served}, mean of {tables} tables, each the median of {forward['reps']}):")
    print(f"{'batch':>14} {'ms/batch':>9} {'ms/photo':>9} {'photos/s':>9}")
    for row in forward["batches"]:
        print(f"{row['batch']:14d} {row['ms_per_batch']:9.1f} {row['ms_per_photo']:9.1f} {row['photos_per_s']:9.2f}")
    print("targets:")
    for name, target in results["ratios"].items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        print(f"  {name:34} {target['value']!s:>8}  (target {target['target']}: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64], help="levels (default 1 4 16 64)")
    parser.add_argument("--seconds", type=int, default=20, help="timed seconds per level (default 20)")
    parser.add_argument("--warmup-seconds", type=int, default=5, help="untimed seconds first (default 5)")
    parser.add_argument("--reference-requests", type=int, default=40, help="timed POSTs of the c1 reference (40)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="bare forward batches")
    parser.add_argument("--forward-reps", type=int, default=3, help="timed forwards per batch size (default 3)")
    parser.add_argument("--sources", type=int, default=5, help="source photos per class (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set for the server, and for the bare forward's settings; repeatable",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "load.json", help="JSON results")
    parser.add_argument("--plot", type=Path, default=RESULTS_DIR / "load.png", help="PNG plot")
    args = parser.parse_args()
    if min(args.concurrency + args.batch_sizes + [args.forward_reps, args.seconds]) < 1 or args.warmup_seconds < 0:
        parser.error("concurrency, batch sizes, --forward-reps and --seconds must be positive")
    if args.reference_requests < 2:
        parser.error("--reference-requests must be at least 2 to have quantiles")
    try:
        overrides = parse_env(args.env)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    os.environ.update(overrides)  # one environment for both sides, read the same way by the same Settings

    photos, origin = build_photos(args.sources, args.seed)
    load_before = load_average_1m()
    plan = Plan(
        levels=args.concurrency,
        seconds=args.seconds,
        warmup_s=args.warmup_seconds,
        reference_requests=args.reference_requests,
        batch_sizes=args.batch_sizes,
        reps=args.forward_reps,
    )
    run = measure(photos, plan)
    load_after = load_average_1m()
    ready = run.ready
    forward = {
        "device": run.device,
        "precision": run.precision,
        "reps": args.forward_reps,
        "batches": mean_table(run.tables),
        "tables": [mean_table([table]) for table in run.tables],
    }
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "env": {key: "***" if "API_KEY" in key else value for key, value in overrides.items()},
        "server": {key: ready[key] for key in ("backend", "device", "precision", "model")},
        "photos": {
            "origin": origin,
            "count": len(photos),
            "sizes": [f"{w}x{h}" for w, h in SIZES],
            "jpeg_bytes_mean": round(statistics.fmean(len(p.data) for p in photos)),
        },
        "reference": {**run.reference, "size": "x".join(map(str, REFERENCE_SIZE))},
        "levels": run.levels,
        "forward": forward,
        "ratios": ratios(run.reference, run.levels),
        **machine_facts(load_before, load_after),
    }
    write_results(args.output, results)
    plot(results, args.plot)
    print_table(results)
    print(f"wrote {args.output} and {args.plot}")


if __name__ == "__main__":
    main()
