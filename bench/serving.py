"""How camserve serves beside the limit and beside a peer, on the same photos in the same minutes.

One run measures three things:

- the limit: the bare forward of every runtime x precision that loads here (through the project's one
  factory, ``load_predictor``), at batch 1 and a full batch of 8, on the service's own inputs. A candidate
  the runtime refuses (bf16 without native bf16, int8 not offered, or one that would quietly run another
  precision) is skipped, with its reason;
- camserve: a real ``camserve serve`` subprocess with default settings, ``POST /predictions``;
- the peer: LitServe 0.2.19 serving the same checkpoint with a plain torch handler (bench/peer_litserve.py),
  in torch fp32 or bf16, whichever ran a batch of 8 faster in this run's first bare-forward table.

The cores here are shared with other machines' work and their speed drifts by tens of percent between runs,
so nothing is compared across runs: both servers run at once (the idle one costs nothing), every level is
driven by wrk (bench/lib/level.py, which reports wrk's own CPU per request beside the server's) for a fixed
time in rounds taken in turns, camserve then the peer, then the peer then camserve (as bench/compare.py),
and a table of bare forwards is taken before the first level and after each, so the limit comes from the
same minutes. Each level reports the medians over its rounds.

Run from the repository root, in the project's venv (with the ``bench`` extra, which brings LitServe)::

    python -m bench.serving                     # c1, c16, c64, 3 rounds each
    python -m bench.serving --quick             # smoke run: c1 and c16, 1 round of 5 s each
    python -m bench.serving --concurrency 1 4 16 64 --rounds 5 --seconds 30
    python -m bench.serving --candidates onnxruntime:fp32 torch:fp32 torch:bf16

Prints tables and writes bench/results/serving.json and bench/results/serving.png.
"""

import argparse
import importlib.metadata
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import psutil

from bench.lib.forward import ForwardTimer, Table, mean_table
from bench.lib.level import LEVEL_MEDIANS, Endpoint, prepare, run_level
from bench.lib.paths import REPOSITORY, RESULTS_DIR
from bench.lib.photos import Photo, build_photos
from bench.lib.plots import concurrency_plot
from bench.lib.results import cell, machine_summary, medians, ratio
from bench.lib.server import api_headers, free_port, running_server, server_process, wait_until_ready
from bench.peer_litserve import BATCH_TIMEOUT_S, MAX_BATCH_SIZE
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results
from camserve.models.inference.predictor import Precision, warm_up
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.service.settings import Settings

PEER_MODULE = "bench.peer_litserve"
PEER = Endpoint(path="/predict", success="200", camserve=False)  # LitServe's default path; it answers 200
PRECISIONS: dict[str, Precision] = {name: name for name in get_args(Precision)}
CANDIDATES = ["onnxruntime:fp32", "openvino:fp32", "openvino:bf16", "openvino:int8", "torch:fp32", "torch:bf16"]
FULL_BATCH = MAX_BATCH_SIZE  # camserve's default CAMSERVE_BATCH_MAX_SIZE, and the peer's
BATCH_SIZES = [1, FULL_BATCH]
SIDES = {"a": "camserve", "b": "peer"}  # the sides of measurement.turns, by name
PEER_STOP_S = 30.0
# What --concurrency, --rounds, --seconds and --warmup-seconds default to, in a full run and in a --quick smoke run.
DEFAULTS: dict[str, Any] = {"concurrency": [1, 16, 64], "rounds": 3, "seconds": 20, "warmup_seconds": 5}
QUICK: dict[str, Any] = {"concurrency": [1, 16], "rounds": 1, "seconds": 5, "warmup_seconds": 2}


Tables = dict[str, Table]  # per candidate, the bare forward at each batch size
Rounds = dict[str, dict[int, list[dict[str, Any]]]]  # per server and level, every round's figures


@dataclass
class Limit:
    """The bare forwards: a timer per candidate that loaded, why the others did not, and every table taken."""

    timers: dict[str, ForwardTimer]
    skipped: dict[str, str]
    reps: int
    tables: list[Tables] = field(default_factory=list)

    def measure(self) -> None:
        self.tables.append({name: timer.table(BATCH_SIZES, self.reps) for name, timer in self.timers.items()})

    def mean(self) -> Tables:
        return {name: mean_table([table[name] for table in self.tables]) for name in self.timers}


@dataclass(frozen=True)
class ServingRun:
    camserve: dict[str, Any]  # what its /readyz reported: backend, device, precision, model
    peer_precision: str
    rounds: Rounds


def load_candidate(spec: str, settings: Settings, photos: list[Photo]) -> ForwardTimer:
    """``runtime:precision`` through the project's one factory, warmed up. RuntimeError where the runtime cannot
    run that precision here, also where it would quietly run another one instead."""
    runtime, _, name = spec.partition(":")
    precision = PRECISIONS.get(name)
    if precision is None:
        raise RuntimeError(f"{name} is not a precision: {', '.join(PRECISIONS)}")
    request = RuntimeRequest(settings.weights_path, precision=precision, cache_dir=settings.onnx_cache_dir)
    predictor = load_predictor(runtime, request)
    if predictor.precision != precision:
        raise RuntimeError(f"{runtime} loaded {predictor.precision} when asked for {precision}")
    warm_up(predictor, tuple(BATCH_SIZES))
    return ForwardTimer(predictor, photos, settings.max_pixels)


def load_limit(specs: list[str], settings: Settings, photos: list[Photo], reps: int) -> Limit:
    timers, skipped = {}, {}
    for spec in specs:
        try:
            timers[spec] = load_candidate(spec, settings, photos)
        except RuntimeError as error:
            skipped[spec] = str(error)
            print(f"  skipped {spec}: {error}", file=sys.stderr)
    if not timers:
        sys.exit("no candidate runtime loaded; nothing to measure the servers against")
    return Limit(timers, skipped, reps)


def full_batch_photos_per_s(rows: Table) -> float:
    return next(row["photos_per_s"] for row in rows if row["batch"] == FULL_BATCH)


def torch_full_batch(table: Tables) -> dict[str, float]:
    """Torch's photos/s at a full batch, per precision that loaded: what the peer's precision is chosen from."""
    return {spec: full_batch_photos_per_s(rows) for spec, rows in table.items() if spec.startswith("torch:")}


def peer_precision(table: Tables) -> str:
    """bf16 only where torch's bf16 forward of a full batch beat fp32's in this run (or fp32 did not load)."""
    speeds = torch_full_batch(table)
    return "bf16" if speeds.get("torch:bf16", 0.0) > speeds.get("torch:fp32", 0.0) else "fp32"


@contextmanager
def running_peer(log_dir: Path, weights_path: Path, precision: str) -> Iterator[tuple[str, psutil.Process]]:
    """Start the peer on a free loopback port and wait until LitServe's /health says its worker is ready; yield
    its URL and process, and stop it at the end, also on errors. Its output goes to a log file, as camserve's."""
    port = free_port()
    command = [sys.executable, "-m", PEER_MODULE, "--port", str(port), "--precision", precision]
    command += ["--weights", str(weights_path)]
    log_path = log_dir / "peer.log"
    base_url = f"http://127.0.0.1:{port}"
    with (
        log_path.open("wb") as log,
        subprocess.Popen(command, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT) as peer,
    ):
        try:
            with httpx.Client(base_url=base_url, timeout=60.0) as client:
                wait_until_ready(client, peer, log_path, "/health")
            yield base_url, psutil.Process(peer.pid)
        finally:
            stop_peer(peer)


def stop_peer(peer: subprocess.Popen[bytes]) -> None:
    """SIGINT, on which LitServe shuts its workers down (SIGTERM to the main process alone leaves them serving);
    any child still there afterwards is ended by its own pid."""
    if peer.poll() is not None:
        return
    children = psutil.Process(peer.pid).children(recursive=True)
    peer.send_signal(signal.SIGINT)
    try:
        peer.wait(timeout=PEER_STOP_S)
    except subprocess.TimeoutExpired:
        peer.kill()
        peer.wait()
    _, alive = psutil.wait_procs(children, timeout=PEER_STOP_S)
    for child in alive:
        child.kill()


def serve_levels(args: argparse.Namespace, photos: list[Photo], limit: Limit, settings: Settings) -> ServingRun:
    """Both servers up at once; per level, rounds in turns (A B, B A, ...); a bare-forward table after each level."""
    precision = peer_precision(limit.tables[0])
    headers = api_headers()
    rounds: Rounds = {side: {c: [] for c in args.concurrency} for side in SIDES.values()}
    with (
        tempfile.TemporaryDirectory(prefix="camserve-serving-") as tmp,
        running_server(Path(tmp)) as (client, ready),
        running_peer(Path(tmp), settings.weights_path, precision) as (peer_url, peer),
    ):
        servers = {
            "camserve": prepare(
                Path(tmp) / "camserve-requests", str(client.base_url), server_process(client), photos, headers
            ),
            "peer": prepare(Path(tmp) / "peer-requests", peer_url, peer, photos, headers, PEER),
        }
        for concurrency in args.concurrency:
            for index, side in turns(args.rounds):
                level = run_level(servers[SIDES[side]], concurrency, args.seconds, args.warmup_seconds)
                rounds[SIDES[side]][concurrency].append(level)
                print(
                    f"  c{concurrency} round {index} {SIDES[side]}: {level['throughput_rps']} req/s, "
                    f"p50 {level['p50_ms']} ms, errors {level['errors']}, "
                    f"client cpu {level['client_cpu_ms_per_request']} ms/request",
                    file=sys.stderr,
                )
            limit.measure()
    return ServingRun({key: ready[key] for key in ("backend", "device", "precision", "model")}, precision, rounds)


def level_results(concurrency: int, rounds: Rounds) -> dict[str, Any]:
    """Per side the medians over the level's rounds (errors summed) and every round; camserve over the peer."""
    sides: dict[str, dict[str, Any]] = {}
    for side, by_level in rounds.items():
        runs = by_level[concurrency]
        median = {**medians(runs, LEVEL_MEDIANS), "errors": sum(r["errors"] for r in runs)}
        sides[side] = {"median": median, "rounds": runs}
    camserve, peer = sides["camserve"]["median"], sides["peer"]["median"]
    return {
        "concurrency": concurrency,
        **sides,
        "throughput_camserve_over_peer": ratio(camserve["throughput_rps"], peer["throughput_rps"]),
        "p50_camserve_over_peer": ratio(camserve["p50_ms"], peer["p50_ms"]),
    }


def limit_results(limit: Limit) -> dict[str, Any]:
    mean = limit.mean()
    best = max(mean, key=lambda spec: full_batch_photos_per_s(mean[spec]))
    return {
        "batch_sizes": BATCH_SIZES,
        "reps": limit.reps,
        "tables": len(limit.tables),
        "candidates": {
            spec: {"batches": mean[spec], "tables": [mean_table([table[spec]]) for table in limit.tables]}
            for spec in mean
        },
        "skipped": limit.skipped,
        "best": {"candidate": best, "photos_per_s": full_batch_photos_per_s(mean[best])},
        "fastest_batch_1_ms": min(rows[0]["ms_per_batch"] for rows in mean.values()),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput against concurrency with the limit drawn across, and latency against concurrency."""
    levels, limit = results["levels"], results["limit"]
    concurrency = [level["concurrency"] for level in levels]
    title = f"camserve vs LitServe, {results['photos']['origin']} JPEGs, {results['measured_at']}"
    with concurrency_plot(path, title, concurrency, legend_size="small") as (throughput, latency):
        for side, colour in (("camserve", "tab:blue"), ("peer", "tab:orange")):
            name = "camserve" if side == "camserve" else f"LitServe peer (torch {results['peer']['precision']})"
            figures = [level[side]["median"] for level in levels]
            throughput.plot(concurrency, [m["throughput_rps"] for m in figures], "o-", color=colour, label=name)
            latency.plot(concurrency, [m["p50_ms"] for m in figures], "o-", color=colour, label=f"{name} p50")
            latency.plot(concurrency, [m["p99_ms"] for m in figures], "s--", color=colour, label=f"{name} p99")
        best = limit["best"]
        label = f"limit: {best['candidate']}, batch {FULL_BATCH}"
        throughput.axhline(best["photos_per_s"], color="grey", ls="--", label=label)
        latency.axhline(limit["fastest_batch_1_ms"], color="grey", ls="--", label="fastest bare forward, batch 1")


def print_tables(results: dict[str, Any]) -> None:
    """The JSON's headline numbers: per level both servers and their ratios, then the bare forwards."""
    camserve, peer, machine = results["camserve"], results["peer"], results["machine"]
    print(
        f"camserve {camserve['backend']} {camserve['device']}/{camserve['precision']}; peer LitServe "
        f"{peer['litserve']} torch {peer['precision']}; {results['photos']['count']} {results['photos']['origin']} "
        f"JPEGs; {results['rounds']} rounds per level; {machine['cpu_model']}, "
        f"{machine_summary(results)}"
    )
    side_heads = " ".join(f"{h:>8}" for h in ("req/s", "p50 ms", "p99 ms", "errors", "cli cpu"))
    print(f"{'':>5} {'camserve':^44}   {'peer':^44}   {'camserve/peer':^17}")
    print(f"{'level':>5} {side_heads}   {side_heads}   {'req/s':>8} {'p50':>8}")
    for level in results["levels"]:
        cells = []
        for side in ("camserve", "peer"):
            median = level[side]["median"]
            rate, p50, p99 = (cell(median[k], 8) for k in ("throughput_rps", "p50_ms", "p99_ms"))
            cells.append(f"{rate} {p50} {p99} {median['errors']:8d} {cell(median['client_cpu_ms_per_request'], 8, 2)}")
        ratios = f"{cell(level['throughput_camserve_over_peer'], 8, 2)} {cell(level['p50_camserve_over_peer'], 8, 2)}"
        print(f"{'c' + str(level['concurrency']):>5} {cells[0]}   {cells[1]}   {ratios}")
    limit = results["limit"]
    print("cli cpu: wrk's own CPU, ms per request (the median over rounds)")
    print(f"bare forward (mean of {limit['tables']} tables, each the median of {limit['reps']}):")
    print(f"{'candidate':>18} {'b1 ms':>8} {f'b{FULL_BATCH} ms':>8} {f'b{FULL_BATCH} photos/s':>14}")
    for spec, candidate in limit["candidates"].items():
        one, full = candidate["batches"][0], candidate["batches"][-1]
        print(f"{spec:>18} {one['ms_per_batch']:8.1f} {full['ms_per_batch']:8.1f} {full['photos_per_s']:14.2f}")
    for spec, reason in limit["skipped"].items():
        print(f"{spec:>18} skipped: {reason}")
    best = limit["best"]
    print(f"limit: {best['photos_per_s']} photos/s ({best['candidate']}, batch {FULL_BATCH})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=CANDIDATES, metavar="RUNTIME:PRECISION")
    parser.add_argument("--concurrency", type=int, nargs="+", help="levels (default 1 16 64)")
    parser.add_argument("--rounds", type=int, help="rounds per server and level (default 3)")
    parser.add_argument("--seconds", type=int, help="timed seconds per round (default 20)")
    parser.add_argument("--warmup-seconds", type=int, help="untimed seconds before each round (default 5)")
    parser.add_argument("--forward-reps", type=int, default=3, help="timed forwards per batch size (default 3)")
    parser.add_argument("--sources", type=int, default=5, help="source photos per class (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: c1 and c16, 1 round of 5 s each")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "serving.json", help="JSON results")
    parser.add_argument("--plot", type=Path, default=RESULTS_DIR / "serving.png", help="PNG plot")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.concurrency) < 1 or args.rounds < 1 or args.forward_reps < 1 or args.seconds < 1:
        parser.error("concurrency, --rounds, --forward-reps and --seconds must be positive")
    if args.warmup_seconds < 0:
        parser.error("--warmup-seconds must not be negative")
    if any(":" not in spec for spec in args.candidates):
        parser.error("--candidates are RUNTIME:PRECISION, e.g. torch:bf16")
    return args


def main() -> None:
    args = parse_args()
    settings = Settings()
    photos, origin = build_photos(args.sources, args.seed)
    load_before = load_average_1m()
    limit = load_limit(args.candidates, settings, photos, args.forward_reps)
    limit.measure()
    served = serve_levels(args, photos, limit, settings)
    load_after = load_average_1m()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "warmup_seconds": args.warmup_seconds,
        "photos": {"origin": origin, "count": len(photos)},
        "camserve": served.camserve,
        "peer": {
            "litserve": importlib.metadata.version("litserve"),
            "precision": served.peer_precision,
            "precision_chosen_from_photos_per_s": torch_full_batch(limit.tables[0]),
            "max_batch_size": MAX_BATCH_SIZE,
            "batch_timeout_s": BATCH_TIMEOUT_S,
        },
        "levels": [level_results(c, served.rounds) for c in args.concurrency],
        "limit": limit_results(limit),
        **machine_facts(load_before, load_after),
    }
    write_results(args.output, results)
    plot(results, args.plot)
    print_tables(results)
    print(f"wrote {args.output} and {args.plot}")


if __name__ == "__main__":
    main()
