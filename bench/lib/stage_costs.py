"""Where a request's time goes: sequential POSTs of one photo, split by the server's own stage histograms.

At concurrency 1 nothing queues, so a request's time is the client's wait, the server's (from the request's
first byte in the app to its response) and, within that, each stage's mean from ``camserve_stage_seconds``;
``other`` is the server's time in none of them (multipart parsing, thread hops, building the response).
"""

import statistics
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.lib.server import running_server

STAGES = ("decode", "queue_wait", "inference", "store")
POST_ROUTE = {"method": "POST", "route": "/predictions"}
PHOTO_SIZE = (500, 375)
WARMUP_REQUESTS = 10


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
        block(client, photo, WARMUP_REQUESTS)
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


def stage_means(blocks: list[dict[str, Any]]) -> dict[str, float]:
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
