"""Concurrent uploads to a running server, and one level's figures: throughput, latency, errors, CPU per request.

``concurrency`` workers share one queue of photos, so exactly that many requests are in flight; a level
warms up at its own concurrency first (connections open, batches formed) and is then timed, with the CPU
the server and this client spent and, for camserve, the forward totals from its /metrics.
"""

import asyncio
import itertools
import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.lib.photos import Photo
from bench.lib.server import cpu_seconds

REQUEST_TIMEOUT_S = 300.0  # a queued request at concurrency 64 on 2 shared cores can wait tens of seconds
FORWARD_TOTALS = (
    "camserve_inference_batch_size_count",
    "camserve_inference_batch_size_sum",
    "camserve_inference_seconds_sum",
)
# The figures of a level that benchmarks taking turns report the median of, over rounds.
LEVEL_MEDIANS = ("throughput_rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request", "batch_mean", "errors")


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


def default_requests(concurrency: int) -> int:
    """Enough requests that every connection sends dozens, without the big levels taking minutes."""
    return min(40 * concurrency, 400)


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


async def send_all(
    session: aiohttp.ClientSession,
    order: Iterator[Photo],
    concurrency: int,
    endpoint: Endpoint = CAMSERVE,
    deadline: float = math.inf,
) -> list[Outcome]:
    """``concurrency`` workers share one iterator of photos, so each is sent once and exactly that many are in
    flight; none starts a request after ``deadline`` (``time.monotonic``)."""
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for photo in order:
            if time.monotonic() >= deadline:
                return
            outcomes.append(await post(session, photo, endpoint))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def drive(
    session: aiohttp.ClientSession, photos: list[Photo], concurrency: int, count: int, endpoint: Endpoint = CAMSERVE
) -> list[Outcome]:
    """``count`` requests, cycling through ``photos``, ``concurrency`` at a time."""
    return await send_all(session, itertools.islice(itertools.cycle(photos), count), concurrency, endpoint)


def quantiles_ms(latencies_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in ms; inclusive quantiles stay within the observed range for small N."""
    if len(latencies_s) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = statistics.quantiles([s * 1000.0 for s in latencies_s], n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2), "p99_ms": round(cuts[98], 2)}


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
