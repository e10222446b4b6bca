"""How close concurrent traffic gets to what the model alone can do, and what it costs in latency.

Starts a real ``camserve serve`` subprocess (free port, temporary store) and, for each concurrency level,
keeps that many ``POST /predictions`` in flight with real JPEGs of mixed sizes (cats and dogs from
../shared/data/catsdogs where present, else generated photos), reporting throughput, latency quantiles,
refusals, the server's own ``inference_ms``, and the CPU time the server and this client spent per request.
From the server's /metrics it also reports each level's mean batch size and the forward's time per photo
inside the server, to set beside the bare forward at that batch size.

The limit is the bare ``predict`` forward of the served runtime, timed in this process at the device and precision
/readyz reported, on the service's own inputs, while the server sits idle. The cores here are shared with
other machines' work, which comes and goes within seconds and moved the bare batch-1 forward between 47
and 64 ms from one run to the next, so every ratio compares numbers taken in the same minute:

- the single-request reference (concurrency 1, 500x375 photos only) alternates one POST and one batch-1
  forward, never concurrent;
- every concurrency level is bracketed by a table of bare forwards at each batch size, one just before and
  one just after it, and is compared with their mean.

The 1-minute load average before and after is recorded; a run where it is well above the number of CPUs
measured the neighbours as much as camserve.

Run from the repository root, in the project's venv::

    python bench/load.py
    python bench/load.py --concurrency 1 4 16 64 --requests-per-level 64
    python bench/load.py --env CAMSERVE_BATCH_MAX_SIZE=16 --env CAMSERVE_BATCH_MAX_WAIT_MS=5

Prints a table and writes bench/results/load.json and bench/results/load.png.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import matplotlib
import numpy as np
import psutil
from common import (
    RESULTS_DIR,
    ROOT,
    environment,
    jpeg_bytes,
    load_average_1m,
    running_server,
    server_process,
    synthetic_photo,
    write_results,
)
from PIL import Image, ImageOps
from prometheus_client.parser import text_string_to_metric_families

from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes import load_predictor
from camserve.service.security import API_KEY_HEADER
from camserve.service.settings import Settings

matplotlib.use("Agg")  # files only; no display on the benchmark machines
from matplotlib import pyplot  # after use(): the backend is chosen before pyplot loads

CATSDOGS = ROOT.parent / "shared" / "data" / "catsdogs"
SIZES = [(200, 200), (500, 375), (375, 500), (1024, 768), (1600, 1200)]
REFERENCE_SIZE = (500, 375)  # the single-request target is stated for a ~500x375 JPEG
FORWARD_TOTALS = (
    "camserve_inference_batch_size_count",
    "camserve_inference_batch_size_sum",
    "camserve_inference_seconds_sum",
)
REQUEST_TIMEOUT_S = 300.0  # a queued request at concurrency 64 on 2 shared cores can wait tens of seconds
TARGETS = {
    "c1_p50_over_forward_b1": ("<=", 1.25),
    "c16_throughput_over_best_forward": (">=", 0.8),
    "c64_errors": ("<=", 0),
    "c64_p99_over_c16_p50": ("<=", 3.0),
}


@dataclass(frozen=True)
class Photo:
    name: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Endpoint:
    """Where a server takes uploads (multipart field ``file``) and the status it answers one with: camserve's
    ``POST /predictions`` by default, a peer server's own elsewhere (bench/serving.py). Only camserve's answers
    carry ``timings.inference_ms`` and only its /metrics the forward totals (``camserve``)."""

    path: str = "/predictions"
    success: str = "201"
    camserve: bool = True


CAMSERVE = Endpoint()


@dataclass(frozen=True)
class Outcome:
    """One request: HTTP status code (or the transport error's name), client-side seconds, server inference_ms."""

    status: str
    latency_s: float
    inference_ms: float | None


def build_photos(sources_per_class: int, seed: int) -> tuple[list[Photo], str]:
    """Every source photo at every size in SIZES, JPEG quality 90, shuffled once so each level sees a mix.

    Real photos are cropped to each size's aspect ratio (no squashing) and kept in memory, never copied.
    """
    rng = np.random.default_rng(seed)
    sources: list[tuple[str, Image.Image]] = []
    if CATSDOGS.is_dir():
        for label in ("cat", "dog"):
            paths = sorted((CATSDOGS / label).glob("*.jpg"))[:sources_per_class]
            sources += [(path.stem, ImageOps.exif_transpose(Image.open(path)).convert("RGB")) for path in paths]
    origin = "catsdogs" if sources else "generated"
    if not sources:
        largest = max(SIZES)
        sources = [(f"generated.{i}", synthetic_photo(*largest, rng)) for i in range(2 * sources_per_class)]
    photos = [
        Photo(f"{name}@{w}x{h}", w, h, jpeg_bytes(ImageOps.fit(image, (w, h), Image.Resampling.LANCZOS)))
        for name, image in sources
        for w, h in SIZES
    ]
    random.Random(seed).shuffle(photos)
    return photos, origin


def default_requests(concurrency: int) -> int:
    """Enough requests that every connection sends dozens, without the big levels taking minutes."""
    return min(40 * concurrency, 400)


def quantiles_ms(latencies_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in ms; inclusive quantiles stay within the observed range for small N."""
    if len(latencies_s) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = statistics.quantiles([s * 1000.0 for s in latencies_s], n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2), "p99_ms": round(cuts[98], 2)}


def uploads(base_url: str, headers: dict[str, str], concurrency: int) -> aiohttp.ClientSession:
    """The load generator's HTTP client, holding at most ``concurrency`` connections.

    aiohttp rather than httpx: on these 2 cores the client's CPU is taken from the server it measures, and
    httpx spent 4-6 ms of CPU per upload against aiohttp's 1.5-2 ms.
    """
    return aiohttp.ClientSession(
        base_url=base_url,
        headers=headers,
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    )


async def post(session: aiohttp.ClientSession, photo: Photo, endpoint: Endpoint = CAMSERVE) -> Outcome:
    form = aiohttp.FormData()
    form.add_field("file", photo.data, filename=f"{photo.name}.jpg", content_type="image/jpeg")
    started = time.perf_counter()
    try:
        async with session.post(endpoint.path, data=form) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        return Outcome(type(error).__name__, time.perf_counter() - started, None)
    latency = time.perf_counter() - started
    status = str(response.status)
    timed = endpoint.camserve and status == endpoint.success
    return Outcome(status, latency, json.loads(body)["timings"]["inference_ms"] if timed else None)


async def drive(
    session: aiohttp.ClientSession, photos: list[Photo], concurrency: int, count: int, endpoint: Endpoint = CAMSERVE
) -> list[Outcome]:
    """``concurrency`` workers share one queue of ``count`` requests, so exactly that many are in flight."""
    order: Iterator[Photo] = itertools.islice(itertools.cycle(photos), count)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for photo in order:  # one iterator shared by all workers: each photo is sent once
            outcomes.append(await post(session, photo, endpoint))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def summarise(outcomes: list[Outcome], wall_s: float, success: str = CAMSERVE.success) -> dict[str, Any]:
    """Throughput counts only successes (camserve's 201s) over the timed wall clock; quantiles are of their
    latencies; every other answer or transport error is an error."""
    ok = [o for o in outcomes if o.status == success]
    inference = [o.inference_ms for o in ok if o.inference_ms is not None]
    return {
        "requests": len(outcomes),
        "wall_s": round(wall_s, 2),
        "throughput_rps": round(len(ok) / wall_s, 2),
        **quantiles_ms([o.latency_s for o in ok]),
        "errors": len(outcomes) - len(ok),
        "status_503": sum(o.status == "503" for o in outcomes),
        "failures": dict(Counter(o.status for o in outcomes if o.status != success)),
        "server_inference_mean_ms": round(statistics.fmean(inference), 2) if inference else None,
    }


def cpu_seconds(process: psutil.Process) -> float:
    """The process's CPU time and its children's: a server such as LitServe works in child processes."""
    processes = [process, *process.children(recursive=True)]
    return sum(times.user + times.system for times in (p.cpu_times() for p in processes))


class ForwardTimer:
    """The bare forward, in this process, on the service's own inputs: the limit camserve is measured against.

    ``served`` loads the checkpoint from the same ``CAMSERVE_*`` settings as the server's, pinned to the backend,
    device type and precision the server reported, so the two sides run the same arithmetic; bench/serving.py
    times every runtime and precision it can load.
    """

    def __init__(self, predictor: Predictor, photos: list[Photo], max_pixels: int) -> None:
        self.predictor = predictor
        self._inputs = {p.name: prepare(p.data, predictor.metadata, max_pixels).pixels for p in photos}

    @classmethod
    def served(cls, ready: dict[str, Any], photos: list[Photo]) -> "ForwardTimer":
        """The runtime, device type and precision the server reported in its /readyz body ``ready``."""
        settings = Settings(
            device=ready["device"].partition(":")[0], precision=ready["precision"], backend=ready["backend"]
        )
        return cls(load_predictor(settings.backend, settings.runtime_request()), photos, settings.max_pixels)

    def batch(self, size: int) -> np.ndarray:
        inputs = list(self._inputs.values())
        return np.stack([inputs[i % len(inputs)] for i in range(size)])

    def photo(self, photo: Photo) -> np.ndarray:
        return self._inputs[photo.name][None]

    def seconds(self, batch: np.ndarray) -> float:
        started = time.perf_counter()
        self.predictor.predict(batch)
        return time.perf_counter() - started

    def table(self, batch_sizes: list[int], reps: int) -> list[dict[str, float]]:
        """Median of ``reps`` forwards per batch size, after one untimed one."""
        rows = []
        for size in batch_sizes:
            batch = self.batch(size)
            self.predictor.predict(batch)
            batch_ms = statistics.median(self.seconds(batch) for _ in range(reps)) * 1000.0
            rows.append({"batch": size, "ms_per_batch": round(batch_ms, 2), "photos_per_s": 1000.0 * size / batch_ms})
        return rows


def best_photos_per_s(table: list[dict[str, float]]) -> float:
    return max(row["photos_per_s"] for row in table)


def mean_table(tables: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per batch size, the mean over tables of ms per batch, with the photos/s and ms/photo that follow."""
    rows = []
    for rows_at_size in zip(*tables, strict=True):
        size = rows_at_size[0]["batch"]
        batch_ms = statistics.fmean(row["ms_per_batch"] for row in rows_at_size)
        rows.append(
            {
                "batch": size,
                "ms_per_batch": round(batch_ms, 2),
                "ms_per_photo": round(batch_ms / size, 2),
                "photos_per_s": round(1000.0 * size / batch_ms, 2),
            }
        )
    return rows


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


async def run_level(
    base_url: str,
    headers: dict[str, str],
    photos: list[Photo],
    concurrency: int,
    requests: int,
    warmup: int,
    server: psutil.Process,
    endpoint: Endpoint = CAMSERVE,
) -> dict[str, Any]:
    """One level: ``warmup`` untimed requests at the same concurrency (connections open, batches formed),
    then ``requests`` timed ones, with the CPU time the server and this client spent on them."""
    async with uploads(base_url, headers, concurrency) as http:
        await drive(http, photos, concurrency, warmup, endpoint)
        this = psutil.Process()
        forwards = await forward_totals(http, endpoint)
        server_cpu, client_cpu = cpu_seconds(server), cpu_seconds(this)
        started = time.perf_counter()
        outcomes = await drive(http, photos, concurrency, requests, endpoint)
        wall_s = time.perf_counter() - started
        server_cpu, client_cpu = cpu_seconds(server) - server_cpu, cpu_seconds(this) - client_cpu
        forwards = {name: total - forwards[name] for name, total in (await forward_totals(http, endpoint)).items()}
    batches, forwarded, forward_s = (forwards.get(name, 0.0) for name in FORWARD_TOTALS)
    return {
        "concurrency": concurrency,
        "warmup": warmup,
        **summarise(outcomes, wall_s, endpoint.success),
        "server_cpu_ms_per_request": round(1000.0 * server_cpu / requests, 2),
        "client_cpu_ms_per_request": round(1000.0 * client_cpu / requests, 2),
        "batch_mean": round(forwarded / batches, 2) if batches else None,
        "server_forward_ms_per_photo": round(1000.0 * forward_s / forwarded, 2) if forwarded else None,
    }


async def forward_totals(http: aiohttp.ClientSession, endpoint: Endpoint = CAMSERVE) -> dict[str, float]:
    """The server's running totals of forward passes, photos forwarded and forward seconds, from /metrics:
    their change over a level says how big its batches were and what a photo's forward cost in the server.
    Empty for a server other than camserve, whose /metrics (if any) says nothing of the kind."""
    if not endpoint.camserve:
        return {}
    async with http.get("/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    totals = dict.fromkeys(FORWARD_TOTALS, 0.0)
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            if sample.name in totals:  # one series per served model: the sum is every forward
                totals[sample.name] += sample.value
    return totals


def api_headers() -> dict[str, str]:
    """The X-API-Key header a server started from this environment will ask for, if any."""
    api_key = Settings().api_key
    return {API_KEY_HEADER: api_key.get_secret_value()} if api_key else {}


@dataclass(frozen=True)
class LoadRun:
    ready: dict[str, Any]
    reference: dict[str, Any]
    levels: list[dict[str, Any]]
    tables: list[list[dict[str, float]]]
    precision: str
    device: str


def measure(
    photos: list[Photo], levels: list[int], requests: int | None, warmup: int | None, batch_sizes: list[int], reps: int
) -> LoadRun:
    """Start the server; run the interleaved 500x375 reference, then every level between two forward tables."""
    reference_photos = [p for p in photos if (p.width, p.height) == REFERENCE_SIZE]
    headers = api_headers()
    with tempfile.TemporaryDirectory(prefix="camserve-load-") as tmp, running_server(Path(tmp)) as (http, ready):
        base_url = str(http.base_url)
        server = server_process(http.base_url.port)
        timer = ForwardTimer.served(ready, photos)
        reference = asyncio.run(run_reference(base_url, headers, reference_photos, timer, requests or 40, warmup or 5))
        print(f"  reference c1 500x375: p50 {reference['p50_ms']} ms", file=sys.stderr)
        tables = [timer.table(batch_sizes, reps)]
        results = []
        for concurrency in levels:
            count = requests or default_requests(concurrency)
            level = asyncio.run(run_level(base_url, headers, photos, concurrency, count, warmup or concurrency, server))
            tables.append(timer.table(batch_sizes, reps))
            limit = statistics.fmean(best_photos_per_s(table) for table in tables[-2:])
            level["forward_best_photos_per_s"] = round(limit, 2)
            level["throughput_over_forward"] = round(level["throughput_rps"] / limit, 3)
            print(
                f"  concurrency {concurrency:3d}: {level['throughput_rps']:7.2f} req/s, limit {limit:.2f}",
                file=sys.stderr,
            )
            results.append(level)
    return LoadRun(ready, reference, results, tables, timer.predictor.precision, str(timer.predictor.device))


def ratios(reference: dict[str, Any], levels: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, each from numbers taken in the same minute; a level not run gives None."""
    by_concurrency = {level["concurrency"]: level for level in levels}
    c16, c64 = by_concurrency.get(16), by_concurrency.get(64)

    def divide(numerator: float | None, denominator: float | None) -> float | None:
        return round(numerator / denominator, 3) if numerator is not None and denominator else None

    values = {
        "c1_p50_over_forward_b1": divide(reference["p50_ms"], reference["forward_b1_p50_ms"]),
        "c16_throughput_over_best_forward": c16 and c16["throughput_over_forward"],
        "c64_errors": c64 and c64["errors"],
        "c64_p99_over_c16_p50": divide(c64 and c64["p99_ms"], c16 and c16["p50_ms"]),
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
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    left.plot(concurrency, [level["throughput_rps"] for level in levels], "o-", label="POST /predictions")
    limits = [level["forward_best_photos_per_s"] for level in levels]
    left.plot(concurrency, limits, "x--", color="grey", label="limit: best bare forward, same minute")
    left.set(xlabel="concurrent requests", ylabel="photos / s", title="Throughput", ylim=(0, None))
    for name, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
        right.plot(concurrency, [level[name] for level in levels], style, label=name.removesuffix("_ms"))
    reference_ms = results["reference"]["forward_b1_p50_ms"]
    right.axhline(reference_ms, color="grey", ls="--", label="bare forward, batch 1")
    right.set(xlabel="concurrent requests", ylabel="ms", title="Latency", yscale="log")
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xticks(concurrency, [str(c) for c in concurrency])
        axes.grid(alpha=0.3)
        axes.legend()
    served = f"{forward['device']}/{forward['precision']}"
    figure.suptitle(f"camserve load, {served}, {results['photos']['origin']} JPEGs, {results['measured_at']}")
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def print_table(results: dict[str, Any]) -> None:
    """The JSON's headline numbers, so runs can be compared at a glance."""
    torch_info, machine = results["torch"], results["machine"]
    load, forward = machine["load_average_1m"], results["forward"]
    print(
        f"{results['photos']['count']} {results['photos']['origin']} JPEGs; "
        f"server {results['server']['backend']} {results['server']['device']}/{results['server']['precision']}; "
        f"torch {torch_info['version']}, {torch_info['threads']} threads, OMP_WAIT_POLICY "
        f"{torch_info['omp_wait_policy']}, {machine['cpus']} CPUs, "
        f"load {load['before']} -> {load['after']}"
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
        p50, p95, p99, inference = (f"{row[k]:9.1f}" if row[k] is not None else f"{'-':>9}" for k in keys)
        keys = ("forward_best_photos_per_s", "server_cpu_ms_per_request", "client_cpu_ms_per_request")
        keys_widths = [(k, 8) for k in keys] + [("batch_mean", 6), ("server_forward_ms_per_photo", 10)]
        extra = (f"{row[k]:{w}.1f}" if row.get(k) is not None else f"{'-':>{w}}" for k, w in keys_widths)
        print(
            f"{name:>14} {row['requests']:5d} {row['throughput_rps']:8.2f} {p50} {p95} {p99} "
            f"{row['errors']:8d} {row['status_503']:5d} {inference} {' '.join(extra)}"
        )
    forward_b1 = results["reference"]["forward_b1_p50_ms"]
    print(f"(c1 500x375 alternates one POST and one bare batch-1 forward: forward p50 {forward_b1} ms)")
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
    for name, ratio in results["ratios"].items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[ratio["met"]]
        print(f"  {name:34} {ratio['value']!s:>8}  (target {ratio['target']}: {verdict})")


def parse_env(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--env expects KEY=VALUE, got {pair!r}")
        overrides[key] = value
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64], help="levels (default 1 4 16 64)")
    parser.add_argument(
        "--requests-per-level", type=int, help="timed requests per level (default 40 x concurrency, at most 400)"
    )
    parser.add_argument("--warmup-per-level", type=int, help="untimed requests first (default: the concurrency)")
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
    if min(args.concurrency) < 1 or min(args.batch_sizes) < 1 or args.forward_reps < 1:
        parser.error("concurrency, batch sizes and --forward-reps must be positive")
    if args.requests_per_level is not None and args.requests_per_level < 2:
        parser.error("--requests-per-level must be at least 2 to have quantiles")
    try:
        overrides = parse_env(args.env)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    os.environ.update(overrides)  # one environment for both sides, read the same way by the same Settings

    photos, origin = build_photos(args.sources, args.seed)
    load_before = load_average_1m()
    run = measure(
        photos, args.concurrency, args.requests_per_level, args.warmup_per_level, args.batch_sizes, args.forward_reps
    )
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
        **environment(load_before, load_after),
    }
    write_results(args.output, results)
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.plot)
    print_table(results)
    print(f"wrote {args.output} and {args.plot}")


if __name__ == "__main__":
    main()
