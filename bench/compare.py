"""Which of two server configurations serves better: both running side by side, measured in turns.

On these shared cores the machine's speed drifts by tens of percent within minutes, so two configurations
measured one after the other mostly measure the drift (see bench/load.py). Here both servers run at once
(the idle one costs nothing) and take turns, A B B A A B ..., every round at the same concurrency with the
same photos for the same time, driven by wrk (bench/lib/level.py), so both see the same drift. Each round
and the medians are printed, wrk's own CPU per request among them; the JSON keeps every round.

Run from the repository root, in the project's venv::

    python -m bench.compare --a CAMSERVE_BATCH_MAX_SIZE=8 --b CAMSERVE_BATCH_MAX_SIZE=16
    python -m bench.compare --concurrency 1 --a CAMSERVE_BACKEND=torch --b CAMSERVE_BACKEND=onnxruntime

A change in code against the commit before it: install that commit beside this one and put it first on the
server's path (the environment reaches the server, and PYTHONPATH wins over the editable install; an installed
copy, because a bare checkout on the path would borrow this checkout's models/ and service/ through the
editable install's mapping)::

    git worktree add /tmp/baseline HEAD~1
    pip install --quiet --no-deps --no-build-isolation --target /tmp/baseline-site /tmp/baseline
    python -m bench.compare --a PYTHONPATH=/tmp/baseline-site --b CAMSERVE_MAX_CONNECTIONS=1000

Writes bench/results/compare.json.
"""

import argparse
import sys
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.lib.level import LEVEL_MEDIANS, prepare, run_level
from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import build_photos
from bench.lib.results import medians
from bench.lib.server import api_headers, parse_env, running_server, server_process
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results

# (result key, column heading, column width): the figures whose medians are compared
COLUMNS = (
    ("throughput_rps", "req/s", 8),
    ("p50_ms", "p50 ms", 9),
    ("p99_ms", "p99 ms", 9),
    ("server_cpu_ms_per_request", "srv cpu", 8),
    ("client_cpu_ms_per_request", "cli cpu", 8),
    ("batch_mean", "batch", 6),
    ("errors", "errors", 8),
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="*", default=[], metavar="KEY=VALUE", help="configuration A's environment")
    parser.add_argument("--b", nargs="*", default=[], metavar="KEY=VALUE", help="configuration B's environment")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per configuration (default 8)")
    parser.add_argument("--seconds", type=int, default=20, help="timed seconds per round (default 20)")
    parser.add_argument("--warmup-seconds", type=int, default=3, help="untimed seconds before each round (default 3)")
    parser.add_argument("--sources", type=int, default=5, help="source photos per class (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "compare.json", help="JSON results")
    args = parser.parse_args()
    if min(args.concurrency, args.rounds, args.seconds) < 1 or args.warmup_seconds < 0:
        parser.error("--concurrency, --rounds and --seconds must be positive, --warmup-seconds not negative")
    try:
        envs = {"a": parse_env(args.a), "b": parse_env(args.b)}
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if envs["a"] == envs["b"]:
        parser.error("--a and --b name the same configuration")

    photos, origin = build_photos(args.sources, args.seed)
    headers = api_headers()
    load_before = load_average_1m()
    rounds: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="camserve-compare-") as tmp, ExitStack() as servers:
        targets = {}
        for side, env in envs.items():
            store_dir = Path(tmp) / side
            store_dir.mkdir()
            client, _ = servers.enter_context(running_server(store_dir, env))
            url, process = str(client.base_url), server_process(client)
            targets[side] = prepare(store_dir / "requests", url, process, photos, headers)
        for index, side in turns(args.rounds):
            level = run_level(targets[side], args.concurrency, args.seconds, args.warmup_seconds)
            rounds[side].append(level)
            cells = "  ".join(f"{heading} {level[key]}" for key, heading, _ in COLUMNS)
            print(f"  round {index} {side}: {cells}", file=sys.stderr)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": args.concurrency,
        "seconds_per_round": args.seconds,
        "warmup_seconds": args.warmup_seconds,
        "photos": {"origin": origin, "count": len(photos)},
        "configurations": {
            side: {
                "env": envs[side],
                "median": medians(rounds[side], LEVEL_MEDIANS),
                "rounds": rounds[side],
            }
            for side in envs
        },
        **machine_facts(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    print(f"c{args.concurrency}, {args.rounds} rounds of {args.seconds} s each, medians (cli cpu: wrk's, ms/request):")
    print(f"{'':>4} " + " ".join(f"{heading:>{width}}" for _, heading, width in COLUMNS) + "  environment")
    for side, configuration in results["configurations"].items():
        cells = " ".join(f"{configuration['median'][key]!s:>{width}}" for key, _, width in COLUMNS)
        print(f"{side:>4} {cells}  {envs[side] or '(defaults)'}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
