"""Concurrent uploads from Python, for the benchmarks that need each answer: the cluster's and the soak's
levels, the memory benchmark's small uploads, and bench/load.py's reference, which alternates one POST with a
bare forward. A concurrency level of the serving benchmarks is driven by wrk instead (bench/lib/level.py).

``concurrency`` workers share one queue of photos, so exactly that many requests are in flight.
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

from bench.lib.photos import Photo

REQUEST_TIMEOUT_S = 300.0  # a queued request at concurrency 64 on 2 shared cores can wait tens of seconds
SUCCESS = "201"  # camserve's answer to an upload it took


@dataclass(frozen=True)
class Outcome:
    """One request: HTTP status code (or the transport error's name), client-side seconds, server inference_ms."""

    status: str
    latency_s: float
    inference_ms: float | None


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


async def post(session: aiohttp.ClientSession, photo: Photo) -> Outcome:
    form = aiohttp.FormData()
    form.add_field("file", photo.data, filename=f"{photo.name}.jpg", content_type="image/jpeg")
    started = time.perf_counter()
    try:
        async with session.post("/predictions", data=form) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        return Outcome(type(error).__name__, time.perf_counter() - started, None)
    latency = time.perf_counter() - started
    status = str(response.status)
    return Outcome(status, latency, json.loads(body)["timings"]["inference_ms"] if status == SUCCESS else None)


async def send_all(
    session: aiohttp.ClientSession,
    order: Iterator[Photo],
    concurrency: int,
    deadline: float = math.inf,
) -> list[Outcome]:
    """``concurrency`` workers share one iterator of photos, so each is sent once and exactly that many are in
    flight; none starts a request after ``deadline`` (``time.monotonic``)."""
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for photo in order:
            if time.monotonic() >= deadline:
                return
            outcomes.append(await post(session, photo))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def drive(session: aiohttp.ClientSession, photos: list[Photo], concurrency: int, count: int) -> list[Outcome]:
    """``count`` requests, cycling through ``photos``, ``concurrency`` at a time."""
    return await send_all(session, itertools.islice(itertools.cycle(photos), count), concurrency)


def quantiles_ms(latencies_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in ms; inclusive quantiles stay within the observed range for small N."""
    if len(latencies_s) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = statistics.quantiles([s * 1000.0 for s in latencies_s], n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2), "p99_ms": round(cuts[98], 2)}


def summarise(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    """Throughput counts only successes (camserve's 201s) over the timed wall clock; quantiles are of their
    latencies; every other answer or transport error is an error."""
    ok = [o for o in outcomes if o.status == SUCCESS]
    inference = [o.inference_ms for o in ok if o.inference_ms is not None]
    return {
        "requests": len(outcomes),
        "wall_s": round(wall_s, 2),
        "throughput_rps": round(len(ok) / wall_s, 2),
        **quantiles_ms([o.latency_s for o in ok]),
        "errors": len(outcomes) - len(ok),
        "status_503": sum(o.status == "503" for o in outcomes),
        "failures": dict(Counter(o.status for o in outcomes if o.status != SUCCESS)),
        "server_inference_mean_ms": round(statistics.fmean(inference), 2) if inference else None,
    }
