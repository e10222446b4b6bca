"""Where one request's time goes beyond the forward: per-stage cost of sequential POSTs, and a profile.

Sends POSTs one at a time (concurrency 1, so nothing queues) of a 500x375 JPEG to real ``camserve serve``
subprocesses and reads each server's own stage histograms from /metrics (``camserve_stage_seconds``:
decode, queue wait, inference, store) and its request histogram, so a request's time splits into:

- client: what the client waited, connection and all;
- server: from the request's first byte in the app to its response (``camserve_http_request_seconds``);
- each stage's mean, and ``other``: the server's time in none of the stages (multipart parsing, thread
  hops, building the response).

With two configurations (``--a`` and ``--b``, as bench/compare.py) both servers run at once and take turns
in blocks, A B B A ..., so both see the same drift of these shared cores. ``--profile`` also samples the
first server with py-spy while it serves and prints the functions it spent most time in (leaf frames),
so the largest fixed costs can be found by name.

Run from the repository root, in the project's venv::

    python bench/request_cost.py
    python bench/request_cost.py --profile
    git worktree add /tmp/baseline HEAD~1
    python bench/request_cost.py --a PYTHONPATH=/tmp/baseline --b CAMSERVE_BATCH_MAX_SIZE=8

Writes bench/results/request_cost.json.
"""

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import (
    RESULTS_DIR,
    environment,
    jpeg_bytes,
    load_average_1m,
    running_server,
    server_process,
    synthetic_photo,
    write_results,
)
from compare import turns
from load import parse_env
from prometheus_client.parser import text_string_to_metric_families

STAGES = ("decode", "queue_wait", "inference", "store")
POST_ROUTE = {"method": "POST", "route": "/predictions"}
PHOTO_SIZE = (500, 375)


def metric_sums(text: str) -> dict[str, float]:
    """Seconds and counts from /metrics: each stage's sum and count, and the POST route's."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            kind = sample.name.rsplit("_", 1)[1]
            if kind not in ("sum", "count"):
                continue
            if family.name == "camserve_stage_seconds" and sample.labels.get("stage") in STAGES:
                sums[f"{sample.labels['stage']}_{kind}"] = sample.value
            elif family.name == "camserve_http_request_seconds" and sample.labels == POST_ROUTE:
                sums[f"server_{kind}"] = sample.value
    return sums


def warmed_servers(
    stack: ExitStack, configs: dict[str, dict[str, str]], photo: bytes, prefix: str
) -> dict[str, httpx.Client]:
    """One ``camserve serve`` per configuration (environment overrides), each with a store of its own in a
    temporary folder, warmed up (connections, caches, first batches); all stopped when ``stack`` closes."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    clients = {}
    for side, env in configs.items():
        (tmp / side).mkdir()
        clients[side], _ = stack.enter_context(running_server(tmp / side, env))
    for client in clients.values():
        block(client, photo, 10)
    return clients


def block(client: httpx.Client, photo: bytes, requests: int) -> dict[str, Any]:
    """``requests`` sequential POSTs; the client's times, and the server's stage sums over exactly them."""
    before = metric_sums(client.get("/metrics").text)
    client_s = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.post("/predictions", files={"file": ("photo", photo, "application/octet-stream")})
        client_s.append(time.perf_counter() - started)
        if response.status_code != 201:
            raise SystemExit(f"POST answered {response.status_code}: {response.text}")
    after = metric_sums(client.get("/metrics").text)
    return {"client_s": client_s, "sums": {key: after[key] - before.get(key, 0.0) for key in after}}


def summarise(blocks: list[dict[str, Any]]) -> dict[str, float]:
    """Per-request means in ms: the client's median, the server's mean, each stage's, and the rest."""
    client = [s for b in blocks for s in b["client_s"]]
    total = Counter[str]()
    for b in blocks:
        total.update(b["sums"])
    requests = total["server_count"]
    stages = {f"{stage}_ms": 1000.0 * total[f"{stage}_sum"] / requests for stage in STAGES}
    server_ms = 1000.0 * total["server_sum"] / requests
    figures = {
        "requests": requests,
        "client_p50_ms": 1000.0 * statistics.median(client),
        "client_mean_ms": 1000.0 * statistics.fmean(client),
        "server_mean_ms": server_ms,
        **stages,
        "other_ms": server_ms - sum(stages.values()),
        "beyond_forward_ms": 1000.0 * statistics.fmean(client) - stages["inference_ms"],
    }
    return {key: round(value, 2) for key, value in figures.items()}


def profile_summary(collapsed: Path, top: int) -> list[tuple[str, float]]:
    """The leaf frames py-spy saw most often, as shares of all samples."""
    leaves = Counter[str]()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaves[stack.rsplit(";", 1)[-1]] += int(count)
    samples = sum(leaves.values()) or 1
    return [(frame, round(100.0 * n / samples, 1)) for frame, n in leaves.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="*", default=[], metavar="KEY=VALUE", help="first server's environment")
    parser.add_argument("--b", nargs="*", metavar="KEY=VALUE", help="second server's environment (omit: one server)")
    parser.add_argument("--photo", type=Path, help="the photo to POST (default: a generated 500x375 JPEG)")
    parser.add_argument("--rounds", type=int, default=6, help="blocks per server (default 6)")
    parser.add_argument("--requests", type=int, default=40, help="sequential POSTs per block (default 40)")
    parser.add_argument("--profile", action="store_true", help="sample the first server with py-spy")
    parser.add_argument("--top", type=int, default=25, help="leaf frames the profile lists (default 25)")
    parser.add_argument("--profile-output", type=Path, help="keep py-spy's collapsed stacks here (for a flame graph)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "request_cost.json")
    args = parser.parse_args()
    configs = {"a": parse_env(args.a)} | ({"b": parse_env(args.b)} if args.b is not None else {})
    photo = (
        args.photo.read_bytes() if args.photo else jpeg_bytes(synthetic_photo(*PHOTO_SIZE, np.random.default_rng(0)))
    )

    load_before = load_average_1m()
    blocks: dict[str, list[dict[str, Any]]] = {side: [] for side in configs}
    profile: list[tuple[str, float]] = []
    with ExitStack() as stack:
        clients = warmed_servers(stack, configs, photo, "camserve-cost-")
        spy = None
        if args.profile:
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
            if py_spy is None:
                raise SystemExit("--profile needs py-spy (the bench extra: pip install -e '.[bench]')")
            pid = server_process(clients["a"].base_url.port).pid
            collapsed = (
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="camserve-profile-"))) / "profile.txt"
            )
            command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(collapsed)]
            spy = subprocess.Popen([*command, "--rate", "250", "--nonblocking"], stderr=subprocess.DEVNULL)
        sides = turns(args.rounds) if len(configs) == 2 else [(i, "a") for i in range(args.rounds)]
        for _, side in sides:
            blocks[side].append(block(clients[side], photo, args.requests))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            profile = profile_summary(collapsed, args.top)
            if args.profile_output:
                shutil.copy(collapsed, args.profile_output)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "photo": str(args.photo) if args.photo else f"generated {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG",
        "configs": {side: {"env": env, **summarise(blocks[side])} for side, env in configs.items()},
        "profile_leaf_frames_percent": profile,
        **environment(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    columns = ("client_p50_ms", "server_mean_ms", *(f"{s}_ms" for s in STAGES), "other_ms", "beyond_forward_ms")
    print(f"{'':>4}" + "".join(f"{c.removesuffix('_ms'):>16}" for c in columns))
    for side, figures in results["configs"].items():
        print(f"{side:>4}" + "".join(f"{figures[c]:>16.2f}" for c in columns) + f"   {figures['env'] or ''}")
    for frame, share in profile:
        print(f"{share:6.1f}%  {frame}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
