"""camserve at scale, measured: through the balancer with one replica and with two, and what a shared store
costs a request against SQLite.

``balancer``: starts ``python -m scripts.cluster up`` (PostgreSQL, SeaweedFS, two replicas, HAProxy) and beside it a
second HAProxy over replica 1 alone, made from the cluster's own configuration. Three configurations then take
turns, round by round (A B C, C B A, ...): replica 1 directly, the balancer over replica 1, the balancer over
both. Each round keeps ``--concurrency`` POSTs in flight. Reported: throughput, latency quantiles, errors, and
the CPU every process of the cluster spent per request (replicas, PostgreSQL, SeaweedFS, HAProxy). On a
machine with 2 cores the two replicas share the cores one replica already fills, so this shows the cost of
the balancer and of a second replica, not a speed-up.

``store``: starts ``python -m scripts.cluster up --services-only`` and three servers: SQLite (the default),
PostgreSQL with photos in the database, PostgreSQL with photos in S3. Sequential POSTs (concurrency 1) in
blocks taking turns, with each server's own stage times (bench/request_cost.py): the ``store`` column is what
a request spends storing its result. Also the CPU per request of the camserve process, and of the PostgreSQL
and SeaweedFS processes: here they share the machine's cores with camserve, where a real deployment runs
them elsewhere, so their work slows the forward of the request that caused it.

Run from the repository root, in the project's venv (as root, the harness installs PostgreSQL and HAProxy)::

    python -m bench.cluster balancer
    python -m bench.cluster balancer --concurrency 1 16 --rounds 4 --requests 200
    python -m bench.cluster store --rounds 8 --requests 40

Writes bench/results/cluster_balancer.json or bench/results/cluster_store.json.
"""

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from bench.lib.cluster import cluster
from bench.lib.load_generator import drive, summarise, uploads
from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import Photo, build_photos, jpeg_bytes, synthetic_photo
from bench.lib.results import medians
from bench.lib.server import api_headers, cpu_seconds, free_port, server_process
from bench.lib.stage_costs import PHOTO_SIZE, STAGES, block, stage_means, warmed_servers
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results


@contextmanager
def balancer_over_replica_1(cluster_env: dict[str, str]) -> Iterator[tuple[str, psutil.Process]]:
    """A second HAProxy, the cluster's own configuration less every server but replica 1, on a port of its own."""
    directory = Path(cluster_env["CLUSTER_DIR"])
    port = free_port()
    lines = (directory / "haproxy.cfg").read_text().splitlines()
    kept = [line for line in lines if not line.strip().startswith("server ") or "replica-1 " in line]
    config = "\n".join(kept).replace(f"127.0.0.1:{cluster_env['CLUSTER_LB_PORT']}", f"127.0.0.1:{port}") + "\n"
    path = directory / "haproxy-one.cfg"
    path.write_text(config)
    with (directory / "logs" / "haproxy-one.log").open("wb") as log:
        process = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"the second HAProxy did not become ready; see {directory}/logs/haproxy-one.log")
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cluster_processes(cluster_env: dict[str, str], extra: list[psutil.Process]) -> list[psutil.Process]:
    """Every process the cluster runs, by the PIDs the harness recorded (their children are counted with them)."""
    pids = [int(path.read_text()) for path in (Path(cluster_env["CLUSTER_DIR"]) / "pids").glob("*.pid")]
    return [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)] + extra


def cpu_of(processes: list[psutil.Process]) -> float:
    return sum(cpu_seconds(process) for process in processes)


async def timed_round(
    url: str, photos: list[Photo], concurrency: int, requests: int, processes: list[psutil.Process]
) -> dict[str, Any]:
    async with uploads(url, api_headers(), concurrency) as http:
        await drive(http, photos, concurrency, concurrency)
        cpu_before = cpu_of(processes)
        started = time.perf_counter()
        outcomes = await drive(http, photos, concurrency, requests)
        wall_s = time.perf_counter() - started
        cpu_s = cpu_of(processes) - cpu_before
    return {**summarise(outcomes, wall_s), "cluster_cpu_ms_per_request": round(1000.0 * cpu_s / requests, 2)}


CONFIGURATIONS = {"direct": "replica 1, no balancer", "lb-1": "HAProxy, replica 1", "lb-2": "HAProxy, 2 replicas"}
ROUND_COLUMNS = ("throughput_rps", "p50_ms", "p99_ms", "errors", "cluster_cpu_ms_per_request")


def balancer(args: argparse.Namespace) -> None:
    photos, origin = build_photos(args.sources, args.seed)
    load_before = load_average_1m()
    levels = []
    with cluster(REPLICAS="2") as env, balancer_over_replica_1(env) as (one_url, one_process):
        processes = cluster_processes(env, [one_process])
        urls = {"direct": env["CLUSTER_REPLICA_1_URL"], "lb-1": one_url, "lb-2": env["CLUSTER_URL"]}
        for concurrency in args.concurrency:
            rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in urls}
            for index, side in turns(args.rounds, tuple(urls)):
                level = asyncio.run(timed_round(urls[side], photos, concurrency, args.requests, processes))
                rounds[side].append(level)
                cells = "  ".join(f"{key} {level[key]}" for key in ROUND_COLUMNS)
                print(f"  c{concurrency} round {index} {side}: {cells}", file=sys.stderr)
            medians_by_side = {side: medians(runs, ROUND_COLUMNS) for side, runs in rounds.items()}
            levels.append({"concurrency": concurrency, "median": medians_by_side, "rounds": rounds})
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "configurations": CONFIGURATIONS,
        "store": "postgresql+s3",
        "photos": {"origin": origin, "count": len(photos)},
        "requests_per_round": args.requests,
        "levels": levels,
        **machine_facts(load_before, load_average_1m()),
    }
    output = args.output or RESULTS_DIR / "cluster_balancer.json"
    write_results(output, results)
    print(f"{args.rounds} rounds of {args.requests} requests per configuration and level, medians:")
    widths = [len(key) + 2 for key in ROUND_COLUMNS]
    print(f"{'':>12}" + "".join(f"{key:>{width}}" for key, width in zip(ROUND_COLUMNS, widths, strict=True)))
    for level in levels:
        for side, median in level["median"].items():
            row = (f"{median[key]:>{width}}" for key, width in zip(ROUND_COLUMNS, widths, strict=True))
            print(f"{'c' + str(level['concurrency']) + ' ' + side:>12}" + "".join(row))
    print(f"wrote {output}")


STORE_COLUMNS = (
    "client_p50_ms",
    "server_mean_ms",
    *(f"{stage}_ms" for stage in STAGES),
    "camserve_cpu_ms",
    "postgresql_and_s3_cpu_ms",
)


def store(args: argparse.Namespace) -> None:
    photo = jpeg_bytes(synthetic_photo(*PHOTO_SIZE, np.random.default_rng(0)))
    load_before = load_average_1m()
    with cluster("--services-only") as env, ExitStack() as stack:
        aws = {key: value for key, value in env.items() if key.startswith("AWS_")}
        database = env["CAMSERVE_STORE_URL"]
        configs = {
            "sqlite": {},
            "postgresql": {**aws, "CAMSERVE_STORE_URL": database},
            "postgresql+s3": {**aws, "CAMSERVE_STORE_URL": database, "CAMSERVE_BLOB_URL": env["CAMSERVE_BLOB_URL"]},
        }
        clients = warmed_servers(stack, configs, photo, "camserve-store-cost-")
        servers = {side: server_process(client) for side, client in clients.items()}
        backing = cluster_processes(env, [])
        blocks: dict[str, list[dict[str, Any]]] = {side: [] for side in configs}
        cpu_s = {side: {"camserve": 0.0, "postgresql_and_s3": 0.0} for side in configs}
        for _, side in turns(args.rounds, tuple(configs)):
            before = cpu_seconds(servers[side]), cpu_of(backing)
            blocks[side].append(block(clients[side], photo, args.requests))
            cpu_s[side]["camserve"] += cpu_seconds(servers[side]) - before[0]
            cpu_s[side]["postgresql_and_s3"] += cpu_of(backing) - before[1]
    requests = args.rounds * args.requests
    figures = {
        side: {
            **stage_means(side_blocks),
            **{f"{name}_cpu_ms": round(1000.0 * seconds / requests, 2) for name, seconds in cpu_s[side].items()},
        }
        for side, side_blocks in blocks.items()
    }
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "photo": f"generated {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, {len(photo)} bytes",
        "configs": figures,
        "store_ms_over_sqlite": {
            side: round(figures[side]["store_ms"] - figures["sqlite"]["store_ms"], 2) for side in configs
        },
        "client_p50_ms_over_sqlite": {
            side: round(figures[side]["client_p50_ms"] - figures["sqlite"]["client_p50_ms"], 2) for side in configs
        },
        **machine_facts(load_before, load_average_1m()),
    }
    output = args.output or RESULTS_DIR / "cluster_store.json"
    write_results(output, results)
    print(f"concurrency 1, {args.rounds} blocks of {args.requests} POSTs per store; ms per request:")
    widths = [max(12, len(column)) + 2 for column in STORE_COLUMNS]
    print(f"{'':>14}" + "".join(f"{c.removesuffix('_ms'):>{w}}" for c, w in zip(STORE_COLUMNS, widths, strict=True)))
    for side, side_figures in figures.items():
        cells = (f"{side_figures[c]:>{w}.2f}" for c, w in zip(STORE_COLUMNS, widths, strict=True))
        print(f"{side:>14}" + "".join(cells))
    print(
        f"store over SQLite: {results['store_ms_over_sqlite']}; client p50 over SQLite: "
        f"{results['client_p50_ms_over_sqlite']}"
    )
    print(f"wrote {output}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    through = commands.add_parser("balancer", help="one replica against two, through HAProxy")
    through.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="levels (default 1 16)")
    through.add_argument("--rounds", type=int, default=4, help="rounds per configuration and level (default 4)")
    through.add_argument("--requests", type=int, default=200, help="timed requests per round (default 200)")
    through.add_argument("--sources", type=int, default=5, help="source photos per class (default 5)")
    through.add_argument("--seed", type=int, default=0)
    through.add_argument("--output", type=Path, help="JSON results (default bench/results/cluster_balancer.json)")
    stores = commands.add_parser("store", help="SQLite against PostgreSQL and PostgreSQL + S3, concurrency 1")
    stores.add_argument("--rounds", type=int, default=8, help="blocks per store (default 8)")
    stores.add_argument("--requests", type=int, default=40, help="sequential POSTs per block (default 40)")
    stores.add_argument("--output", type=Path, help="JSON results (default bench/results/cluster_store.json)")
    args = parser.parse_args()
    {"balancer": balancer, "store": store}[args.command](args)


if __name__ == "__main__":
    main()
