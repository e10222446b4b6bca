"""How camserve serves beside the limit and beside two peers, on the same photos in the same minutes.

One run measures three things:

- the limit: the bare forward of every runtime x precision that loads here (through the project's one
  factory, ``load_predictor``), at batch 1 and a full batch of 8, on the service's own inputs. A candidate
  the runtime refuses (bf16 without native bf16, int8 not offered, or one that would quietly run another
  precision) is skipped, with its reason;
- camserve: a real ``camserve serve`` subprocess with default settings, ``POST /predictions``;
- two peers, LitServe 0.2.19 handlers written from the libraries' docs (bench/peer_litserve.py): ``litserve-torch``
  serves the checkpoint with a plain torch handler, in torch fp32 or bf16, whichever ran a batch of 8 faster in
  this run's first bare-forward table; ``litserve-int8`` runs the very int8 graph camserve serves, compiled as
  camserve compiles it, so camserve over it is what the serving layer gives, and camserve over the torch peer is
  that and the runtime together. Without a gated int8 graph, the int8 peer is skipped, with its reason.

The cores here are shared with other machines' work and their speed drifts by tens of percent between runs,
so nothing is compared across runs: all the servers are up at once, those not being measured paused (an idle
LitServe peer polls at about a fifth of a core), every level is driven by wrk (bench/lib/level.py, which reports
wrk's own CPU per request beside the server's) for a fixed time in rounds taken in turns, camserve then each
peer, then the other way round (as bench/compare.py), and a table of bare forwards is taken, every server
paused, before the first level and after each, so the limit comes from the same minutes. Each level reports
the medians over its rounds.

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
from contextlib import ExitStack, contextmanager
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
from bench.lib.server import api_headers, free_port, paused, running_server, server_process, wait_until_ready
from bench.peer_litserve import BATCH_TIMEOUT_S, MAX_BATCH_SIZE
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results
from camserve.models.inference.predictor import Precision, warm_up
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.runtimes.openvino import gated_int8
from camserve.service.settings import Settings

PEER_MODULE = "bench.peer_litserve"
PEER = Endpoint(path="/predict", success="200", camserve=False)  # LitServe's default path; it answers 200
PRECISIONS: dict[str, Precision] = {name: name for name in get_args(Precision)}
CANDIDATES = ["onnxruntime:fp32", "openvino:fp32", "openvino:bf16", "openvino:int8", "torch:fp32", "torch:bf16"]
FULL_BATCH = MAX_BATCH_SIZE  # camserve's default CAMSERVE_BATCH_MAX_SIZE, and the peers'
BATCH_SIZES = [1, FULL_BATCH]
PEER_RUNTIMES = {"litserve-torch": "torch", "litserve-int8": "openvino-int8"}  # each peer's --runtime, by side
PEER_NAMES = {"litserve-torch": "LitServe torch", "litserve-int8": "LitServe OpenVINO int8"}
COLOURS = {"camserve": "tab:blue", "litserve-torch": "tab:orange", "litserve-int8": "tab:green"}
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
    peer_precision: str  # the torch peer's
    peers: dict[str, str]  # per peer side that ran, its runtime
    skipped_peers: dict[str, str]  # per peer side that could not run here, why
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
def running_peer(
    log_dir: Path, weights_path: Path, runtime: str, precision: str
) -> Iterator[tuple[str, psutil.Process]]:
    """Start a peer on a free loopback port and wait until LitServe's /health says its worker is ready; yield
    its URL and process, and stop it at the end, also on errors. Its output goes to a log file, as camserve's."""
    port = free_port()
    command = [sys.executable, "-m", PEER_MODULE, "--port", str(port), "--runtime", runtime]
    command += ["--precision", precision, "--weights", str(weights_path)]
    log_path = log_dir / f"peer-{runtime}.log"
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


def peer_sides(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The peer sides that can run here, with their runtimes, and why the others cannot: the int8 peer needs
    the gated int8 graph."""
    try:
        gated_int8(settings.weights_path)
    except RuntimeError as error:
        print(f"  skipped litserve-int8: {error}", file=sys.stderr)
        return {"litserve-torch": PEER_RUNTIMES["litserve-torch"]}, {"litserve-int8": str(error)}
    return dict(PEER_RUNTIMES), {}


def serve_levels(args: argparse.Namespace, photos: list[Photo], limit: Limit, settings: Settings) -> ServingRun:
    """Every server up at once; per level, rounds in turns (A B C, C B A, ...), the servers not being measured
    paused; then a bare-forward table, with all of them paused."""
    precision = peer_precision(limit.tables[0])
    headers = api_headers()
    peers, skipped = peer_sides(settings)
    with (
        tempfile.TemporaryDirectory(prefix="camserve-serving-") as tmp,
        running_server(Path(tmp)) as (client, ready),
        ExitStack() as stack,
    ):
        servers = {
            "camserve": prepare(
                Path(tmp) / "camserve-requests", str(client.base_url), server_process(client), photos, headers
            )
        }
        for side, runtime in peers.items():
            url, process = stack.enter_context(running_peer(Path(tmp), settings.weights_path, runtime, precision))
            servers[side] = prepare(Path(tmp) / f"{side}-requests", url, process, photos, headers, PEER)
        rounds: Rounds = {side: {c: [] for c in args.concurrency} for side in servers}
        processes = {side: target.process for side, target in servers.items()}
        for concurrency in args.concurrency:
            for index, side in turns(args.rounds, tuple(servers)):
                with paused([process for other, process in processes.items() if other != side]):
                    level = run_level(servers[side], concurrency, args.seconds, args.warmup_seconds)
                rounds[side][concurrency].append(level)
                print(
                    f"  c{concurrency} round {index} {side}: {level['throughput_rps']} req/s, "
                    f"p50 {level['p50_ms']} ms, errors {level['errors']}, "
                    f"client cpu {level['client_cpu_ms_per_request']} ms/request",
                    file=sys.stderr,
                )
            with paused(list(processes.values())):
                limit.measure()
    camserve = {key: ready[key] for key in ("backend", "device", "precision", "model")}
    return ServingRun(camserve, precision, peers, skipped, rounds)


def level_results(concurrency: int, rounds: Rounds) -> dict[str, Any]:
    """Per side the medians over the level's rounds (errors summed) and every round; camserve over each peer."""
    sides: dict[str, dict[str, Any]] = {}
    for side, by_level in rounds.items():
        runs = by_level[concurrency]
        median = {**medians(runs, LEVEL_MEDIANS), "errors": sum(r["errors"] for r in runs)}
        sides[side] = {"median": median, "rounds": runs}
    camserve = sides["camserve"]["median"]
    over = {
        peer: {
            "throughput": ratio(camserve["throughput_rps"], sides[peer]["median"]["throughput_rps"]),
            "p50": ratio(camserve["p50_ms"], sides[peer]["median"]["p50_ms"]),
        }
        for peer in sides
        if peer != "camserve"
    }
    return {"concurrency": concurrency, **sides, "camserve_over": over}


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


def side_name(side: str, results: dict[str, Any]) -> str:
    """How the plot and the tables name a side: the torch peer with the precision it ran."""
    if side == "litserve-torch":
        return f"{PEER_NAMES[side]} {results['peers']['sides'][side]['precision']}"
    return PEER_NAMES.get(side, side)


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput against concurrency with the limit drawn across, and latency against concurrency."""
    levels, limit = results["levels"], results["limit"]
    concurrency = [level["concurrency"] for level in levels]
    title = f"camserve vs LitServe, {results['photos']['origin']} JPEGs, {results['measured_at']}"
    with concurrency_plot(path, title, concurrency, legend_size="small") as (throughput, latency):
        for side in ("camserve", *levels[0]["camserve_over"]):
            name, colour = side_name(side, results), COLOURS[side]
            figures = [level[side]["median"] for level in levels]
            throughput.plot(concurrency, [m["throughput_rps"] for m in figures], "o-", color=colour, label=name)
            latency.plot(concurrency, [m["p50_ms"] for m in figures], "o-", color=colour, label=f"{name} p50")
            latency.plot(concurrency, [m["p99_ms"] for m in figures], "s--", color=colour, label=f"{name} p99")
        best = limit["best"]
        label = f"limit: {best['candidate']}, batch {FULL_BATCH}"
        throughput.axhline(best["photos_per_s"], color="grey", ls="--", label=label)
        latency.axhline(limit["fastest_batch_1_ms"], color="grey", ls="--", label="fastest bare forward, batch 1")


def print_tables(results: dict[str, Any]) -> None:
    """The JSON's headline numbers: per level a row per server with camserve over it, then the bare forwards."""
    camserve, peers, machine = results["camserve"], results["peers"], results["machine"]
    print(
        f"camserve {camserve['backend']} {camserve['device']}/{camserve['precision']}; peers LitServe "
        f"{peers['litserve']}; {results['photos']['count']} {results['photos']['origin']} "
        f"JPEGs; {results['rounds']} rounds per level; {machine['cpu_model']}, "
        f"{machine_summary(results)}"
    )
    heads = " ".join(f"{h:>8}" for h in ("req/s", "p50 ms", "p99 ms", "errors", "cli cpu"))
    print(f"{'level':>5} {'server':<28} {heads}   {'camserve/server':^17}")
    print(f"{'':>5} {'':<28} {'':>44}   {'req/s':>8} {'p50':>8}")
    for level in results["levels"]:
        for side in ("camserve", *level["camserve_over"]):
            median = level[side]["median"]
            rate, p50, p99 = (cell(median[k], 8) for k in ("throughput_rps", "p50_ms", "p99_ms"))
            figures = f"{rate} {p50} {p99} {median['errors']:8d} {cell(median['client_cpu_ms_per_request'], 8, 2)}"
            over = level["camserve_over"].get(side)
            ratios = f"{cell(over['throughput'], 8, 2)} {cell(over['p50'], 8, 2)}" if over else ""
            print(f"{'c' + str(level['concurrency']):>5} {side_name(side, results):<28} {figures}   {ratios}")
    for side, peer in peers["sides"].items():
        if "skipped" in peer:
            print(f"{side_name(side, results)} skipped: {peer['skipped']}")
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


def peer_results(served: ServingRun, limit: Limit, settings: Settings) -> dict[str, Any]:
    """What each peer ran (or why it was skipped), and the batching every peer shares."""
    sides: dict[str, dict[str, Any]] = {side: {"skipped": reason} for side, reason in served.skipped_peers.items()}
    for side, runtime in served.peers.items():
        if runtime == "torch":
            sides[side] = {
                "runtime": runtime,
                "precision": served.peer_precision,
                "precision_chosen_from_photos_per_s": torch_full_batch(limit.tables[0]),
            }
        else:
            sides[side] = {"runtime": runtime, "graph": str(gated_int8(settings.weights_path))}
    return {
        "litserve": importlib.metadata.version("litserve"),
        "max_batch_size": MAX_BATCH_SIZE,
        "batch_timeout_s": BATCH_TIMEOUT_S,
        "sides": sides,
    }


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
        "peers": peer_results(served, limit, settings),
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
