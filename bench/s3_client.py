"""Which S3 client costs a replica less: boto3 against obstore, uploading photo-sized objects.

On a replica every upload's CPU is taken from inference on the same cores, so the client's CPU per put
matters as much as its wall time. Starts ``python -m scripts.cluster up --services-only`` (SeaweedFS's S3 server,
on this machine), then puts ``--photo-kb`` objects with each client in turns (A B, B A, ...), and reports
this process's CPU and the wall time per put.

Run from the repository root, in the project's venv (boto3 comes with the test extra)::

    python -m bench.s3_client
    python -m bench.s3_client --rounds 8 --puts 100 --photo-kb 60

Writes bench/results/s3_client.json.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
import obstore
from botocore.config import Config
from obstore.store import S3Store

from bench.lib.cluster import cluster
from bench.lib.paths import RESULTS_DIR
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, turns, write_results


def clients(bucket: str) -> dict[str, Callable[[str, bytes], object]]:
    """One put function per client, each as the service would configure it (service/blobs/s3.py for obstore)."""
    boto = boto3.client(
        "s3",
        region_name=os.environ["AWS_REGION"],
        config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"),
    )
    store = S3Store(bucket, client_options={"allow_http": True})
    return {
        "boto3": lambda key, data: boto.put_object(Bucket=bucket, Key=key, Body=data),
        "obstore": lambda key, data: obstore.put(store, key, data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.s3_client", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="rounds per client (default 8)")
    parser.add_argument("--puts", type=int, default=100, help="puts per round (default 100)")
    parser.add_argument("--photo-kb", type=int, default=60, help="object size, kB (default 60)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "s3_client.json")
    args = parser.parse_args()
    data = os.urandom(args.photo_kb * 1000)
    load_before = load_average_1m()
    with cluster("--services-only") as env:
        os.environ.update({key: value for key, value in env.items() if key.startswith("AWS_")})
        puts = clients(env["CLUSTER_BUCKET"])
        for name, put in puts.items():  # connections open, first-call set-up done
            put(f"warm/{name}", data)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in puts}
        for index, name in turns(args.rounds, tuple(puts)):
            cpu, wall = time.process_time(), time.perf_counter()
            for number in range(args.puts):
                puts[name](f"bench/{name}/{index}/{number}", data)
            rounds[name].append(
                {
                    "cpu_ms_per_put": 1000.0 * (time.process_time() - cpu) / args.puts,
                    "wall_ms_per_put": 1000.0 * (time.perf_counter() - wall) / args.puts,
                }
            )
    medians = {
        name: {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        for name, runs in rounds.items()
    }
    write_results(
        args.output,
        {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "object_bytes": len(data),
            "puts_per_round": args.puts,
            "median": medians,
            "rounds": rounds,
            **machine_facts(load_before, load_average_1m()),
        },
    )
    print(f"{args.rounds} rounds of {args.puts} puts of {len(data)} bytes per client, medians:")
    for name, figures in medians.items():
        print(f"{name:>8}: {figures['cpu_ms_per_put']:.3f} ms CPU, {figures['wall_ms_per_put']:.3f} ms wall per put")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
