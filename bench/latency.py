"""How much of one prediction's latency is the model, and how much is everything around it.

Times sequential ``POST /predictions`` of tests/chelsea.png against a real ``camserve serve`` subprocess
(free port, temporary store), and the bare ``predict`` forward of the served runtime on the same prepared input in this
process, with their ratio. Both load the checkpoint from the same ``CAMSERVE_*`` settings.

The two are interleaved, one request then one forward, never concurrent, so both see the same background
load: on a machine whose cores are shared with other work, that load comes and goes within seconds and can
slow an OpenMP forward several times over. The 1-minute load average before and after is recorded; a
run where it is well above the number of CPUs measured the neighbours as much as camserve.

Run from the repository root, in the project's venv::

    python -m bench.latency                 # 50 of each after 5 warm-up ones
    python -m bench.latency --requests 200

Prints a table and writes bench/results/latency.json.
"""

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.lib.paths import CHELSEA, REPOSITORY, RESULTS_DIR
from bench.lib.results import machine_summary
from bench.lib.server import running_server
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results
from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings

PHOTO = CHELSEA
RESULTS = RESULTS_DIR / "latency.json"


def summarise(samples_s: list[float]) -> dict[str, float]:
    """p50, p90 and mean in milliseconds; inclusive quantiles stay within the observed range for small N."""
    ms = [s * 1000.0 for s in samples_s]
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p90_ms": round(statistics.quantiles(ms, n=10, method="inclusive")[8], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


@dataclass(frozen=True)
class Samples:
    """One run: the /readyz body, per-round wall times in seconds, and where the bare forward ran."""

    ready: dict[str, Any]
    http_s: list[float]
    server_inference_s: list[float]
    forward_s: list[float]
    forward_device: str
    forward_precision: str


def measure(photo: bytes, warmup: int, requests: int) -> Samples:
    """Alternate one POST and one bare forward, ``warmup`` untimed rounds first, then ``requests`` timed ones.

    The forward uses the served checkpoint, loaded the way the service loads it, on the service's own input.
    """
    settings = Settings()
    predictor = load_predictor(settings.backend, settings.runtime_request())
    batch = prepare(photo, predictor.metadata, settings.max_pixels).pixels[None]
    http_s: list[float] = []
    server_inference_s: list[float] = []
    forward_s: list[float] = []

    with tempfile.TemporaryDirectory(prefix="camserve-bench-") as tmp, running_server(Path(tmp)) as (client, ready):

        def post() -> float:
            """One upload; returns the server's own inference time, in seconds."""
            response = client.post("/predictions", files={"file": (PHOTO.name, photo, "image/png")})
            if response.status_code != 201:
                sys.exit(f"POST /predictions answered {response.status_code}: {response.text}")
            inference_ms: float = response.json()["timings"]["inference_ms"]
            return inference_ms / 1000.0

        for _ in range(warmup):
            post()
            predictor.predict(batch)
        for _ in range(requests):
            started = time.perf_counter()
            server_inference_s.append(post())
            http_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            predictor.predict(batch)
            forward_s.append(time.perf_counter() - started)
    return Samples(ready, http_s, server_inference_s, forward_s, str(predictor.device), predictor.precision)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests, and as many forwards (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds before them (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args()
    if args.requests < 2:
        parser.error("--requests must be at least 2 to have a p90")

    load_before = load_average_1m()
    samples = measure(PHOTO.read_bytes(), args.warmup, args.requests)
    load_after = load_average_1m()
    served = {"device": samples.ready["device"], "precision": samples.ready["precision"]}
    http = {**served, **summarise(samples.http_s)}
    forward = {"device": samples.forward_device, "precision": samples.forward_precision, **summarise(samples.forward_s)}
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "photo": str(PHOTO.relative_to(REPOSITORY)),
        "requests": args.requests,
        "warmup": args.warmup,
        "model": samples.ready["model"],
        "http": http,
        "server_inference": {**served, **summarise(samples.server_inference_s)},
        "forward": forward,
        "ratio_p50": round(http["p50_ms"] / forward["p50_ms"], 2),
        "ratio_mean": round(http["mean_ms"] / forward["mean_ms"], 2),
        **machine_facts(load_before, load_after),
    }
    write_results(args.output, results)
    print_table(results)
    print(f"wrote {args.output}")


def print_table(results: dict[str, Any]) -> None:
    """The JSON's headline numbers, one row per measurement, so runs can be compared at a glance."""
    torch_info = results["torch"]
    print(
        f"{results['requests']} timed after {results['warmup']} warm-up; torch {torch_info['version']}, "
        f"{torch_info['threads']} threads, {machine_summary(results)}"
    )
    print(f"{'':34} {'device':>7} {'prec':>5} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    rows = [
        ("POST /predictions (client)", results["http"]),
        ("  of which inference_ms (server)", results["server_inference"]),
        ("model forward (bare)", results["forward"]),
    ]
    for name, row in rows:
        print(
            f"{name:34} {row['device']:>7} {row['precision']:>5} "
            f"{row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['mean_ms']:8.2f}"
        )
    print(f"ratio POST / forward: p50 {results['ratio_p50']:.2f}x, mean {results['ratio_mean']:.2f}x")


if __name__ == "__main__":
    main()
