"""The request mix that costs a server the most memory, sent all at once, and the server's RSS while it runs.

Every kind of request that holds a large photo or picture: POSTs answered with the overlay inline
(``store=false``), overlay and heatmap GETs of stored large photos, zoomed and mirrored POSTs, and POSTs to the
second model. Small photos are posted beside the burst, one after another on a few connections, to see how
long they wait behind it. ``bench.memory`` reports it; tests/service/test_memory_limit.py runs it under the
deployment's memory limit.
"""

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
import psutil

from bench.lib.load_generator import REQUEST_TIMEOUT_S
from bench.lib.photos import Photo

__all__ = [
    "Answer",
    "Call",
    "RssPeak",
    "burst_mix",
    "readable",
    "run_burst",
    "sampled_peak",
    "statuses",
    "store_photos",
]

SECOND_MODEL = "camserve-lesson7-resnet2"
SAMPLE_INTERVAL_S = 0.02


@dataclass(frozen=True)
class Call:
    """One request of the burst: its kind (for the report), method, path and query, and the photo it posts."""

    kind: str
    method: str
    path: str
    params: dict[str, str]
    photo: Photo | None = None


@dataclass(frozen=True)
class Answer:
    kind: str
    status: str  # the HTTP status, or the transport error's name
    latency_s: float
    location: str | None = None  # a 201's result


def burst_mix(stored_ids: list[str], photo: Photo, size: int) -> list[Call]:
    """``size`` requests, the five kinds in turn; each GET with its own alpha or colormap, so none is a cache hit."""
    ids = itertools.cycle(stored_ids)
    kinds = itertools.cycle(("unstored", "overlay", "heatmap", "zoom_tta", "second_model"))
    colormaps = itertools.cycle(("jet", "magma", "viridis", "turbo", "hot", "inferno", "plasma"))
    calls = []
    for index, kind in zip(range(size), kinds, strict=False):
        if kind == "unstored":
            calls.append(Call(kind, "POST", "/predictions", {"store": "false", "alpha": "0.4"}, photo))
        elif kind == "zoom_tta":
            calls.append(Call(kind, "POST", "/predictions", {"zoom": "true", "tta": "true"}, photo))
        elif kind == "second_model":
            calls.append(Call(kind, "POST", "/predictions", {"model": SECOND_MODEL}, photo))
        elif kind == "overlay":
            alpha = f"{0.3 + 0.01 * index:.2f}"
            calls.append(Call(kind, "GET", f"/predictions/{next(ids)}/overlay.png", {"alpha": alpha}))
        else:
            calls.append(Call(kind, "GET", f"/predictions/{next(ids)}/heatmap.png", {"colormap": next(colormaps)}))
    return calls


async def _send(session: aiohttp.ClientSession, call: Call) -> Answer:
    data = None
    if call.photo is not None:
        data = aiohttp.FormData()
        data.add_field("file", call.photo.data, filename=f"{call.photo.name}.jpg", content_type="image/jpeg")
    started = time.perf_counter()
    try:
        async with session.request(call.method, call.path, params=call.params, data=data) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        return Answer(call.kind, type(error).__name__, time.perf_counter() - started)
    return Answer(call.kind, str(response.status), time.perf_counter() - started, response.headers.get("Location"))


def _session(base_url: str, headers: dict[str, str]) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=base_url, headers=headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    )


async def store_photos(base_url: str, headers: dict[str, str], photo: Photo, count: int) -> list[str]:
    """Store ``photo`` ``count`` times, one after another: the results the burst's GETs draw."""
    async with _session(base_url, headers) as session:
        ids = []
        for _ in range(count):
            answer = await _send(session, Call("store", "POST", "/predictions", {}, photo))
            if answer.status != "201" or answer.location is None:
                raise RuntimeError(f"storing a large photo answered {answer.status}")
            ids.append(answer.location.rsplit("/", 1)[-1])
        return ids


async def run_burst(
    base_url: str, headers: dict[str, str], calls: list[Call], small: Photo, small_connections: int
) -> tuple[list[Answer], list[Answer]]:
    """Every call at once; meanwhile ``small_connections`` connections each post ``small`` again and again until
    the burst is answered. The burst's answers, and the small photos'."""
    async with _session(base_url, headers) as session:
        done = asyncio.Event()
        small_answers: list[Answer] = []

        async def small_uploads() -> None:
            while not done.is_set():
                small_answers.append(await _send(session, Call("small", "POST", "/predictions", {}, small)))

        trickle = [asyncio.create_task(small_uploads()) for _ in range(small_connections)]
        try:
            answers = list(await asyncio.gather(*(_send(session, call) for call in calls)))
        finally:
            done.set()
            await asyncio.gather(*trickle)
        return answers, small_answers


async def readable(base_url: str, headers: dict[str, str], answers: list[Answer]) -> list[str]:
    """Every 201's result that cannot be read back (GET of its Location answers anything but 200)."""
    async with _session(base_url, headers) as session:
        missing = []
        for answer in answers:
            if answer.status == "201" and answer.location is not None:
                async with session.get(answer.location) as response:
                    if response.status != 200:
                        missing.append(f"{answer.location}: {response.status}")
        return missing


@dataclass
class RssPeak:
    """The highest RSS seen while sampling, in bytes."""

    bytes: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def sampled_peak(process: psutil.Process) -> Iterator[RssPeak]:
    """Sample ``process``'s RSS every ``SAMPLE_INTERVAL_S`` on a thread while inside; the peak is final after."""
    peak = RssPeak()

    def sample() -> None:
        while not peak._stop.wait(SAMPLE_INTERVAL_S):
            try:
                peak.bytes = max(peak.bytes, process.memory_info().rss)
            except psutil.Error:
                return
            peak.samples += 1

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        peak._stop.set()
        sampler.join()


def statuses(answers: list[Answer]) -> dict[str, dict[str, int]]:
    """How many of each kind got each status."""
    table: dict[str, dict[str, int]] = {}
    for answer in answers:
        row = table.setdefault(answer.kind, {})
        row[answer.status] = row.get(answer.status, 0) + 1
    return table
