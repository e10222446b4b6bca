"""The Python load generator against a small aiohttp server that counts what reaches it: how many requests are
in flight, which photos arrive, and what is summarised from the answers."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bench.lib.load_generator import Outcome, drive, quantiles_ms, send_all, summarise, uploads
from bench.lib.photos import Photo
from bench.lib.server import free_port
from tests.support.aio import run_in_own_loop

PHOTOS = [Photo(f"photo{i}", 8, 8, bytes([i]) * 100) for i in range(5)]


@dataclass
class FakeServer:
    """Answers uploads after a short wait, as camserve does (201 with timings) or refusing them (bare)."""

    status: int = 201
    in_flight: int = 0
    most_in_flight: int = 0
    received: list[str] = field(default_factory=list)

    async def upload(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        self.received.append(upload.filename)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if self.status == 201:
            return web.json_response({"timings": {"inference_ms": 7.5}}, status=201)
        return web.json_response({}, status=self.status)


@asynccontextmanager
async def serving(server: FakeServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/predictions", server.upload)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    run_in_own_loop(scenario())


def test_drive_keeps_exactly_the_concurrency_in_flight_and_sends_each_request_once() -> None:
    server = FakeServer()

    async def scenario() -> None:
        async with serving(server) as url, uploads(url, {}, 3) as session:
            outcomes = await drive(session, PHOTOS, concurrency=3, count=12)
        assert len(outcomes) == 12
        assert all(o.status == "201" and o.inference_ms == 7.5 for o in outcomes)

    run(scenario)
    assert server.most_in_flight == 3
    # 12 requests cycle through the 5 photos: the first two are sent three times, the others twice.
    assert Counter(server.received) == {f"photo{i}.jpg": 3 if i < 2 else 2 for i in range(5)}


def test_send_all_starts_nothing_after_its_deadline() -> None:
    server = FakeServer()

    async def scenario() -> None:
        async with serving(server) as url, uploads(url, {}, 2) as session:
            outcomes = await send_all(session, iter(PHOTOS), 2, deadline=time.monotonic() - 1.0)
        assert outcomes == []

    run(scenario)
    assert server.received == []


def test_a_refusal_is_an_error_with_no_server_timings() -> None:
    server = FakeServer(status=503)

    async def scenario() -> None:
        async with serving(server) as url, uploads(url, {}, 2) as session:
            outcomes = await drive(session, PHOTOS, 2, 4)
        figures = summarise(outcomes, 1.0)
        assert (figures["throughput_rps"], figures["status_503"], figures["server_inference_mean_ms"]) == (0.0, 4, None)

    run(scenario)


def test_transport_errors_are_errors_by_name() -> None:
    async def scenario() -> None:
        async with uploads(f"http://127.0.0.1:{free_port()}", {}, 1) as session:
            outcomes = await drive(session, PHOTOS, 1, 2)
        figures = summarise(outcomes, 1.0)
        assert figures["errors"] == 2 and figures["throughput_rps"] == 0.0
        assert list(figures["failures"]) == ["ClientConnectorError"]

    run(scenario)


def test_summarise_counts_only_successes_and_names_every_failure() -> None:
    outcomes = [Outcome("201", 0.1, 5.0), Outcome("201", 0.3, 7.0), Outcome("503", 0.01, None)]

    figures = summarise(outcomes, wall_s=2.0)

    assert figures["throughput_rps"] == 1.0
    assert (figures["errors"], figures["status_503"], figures["failures"]) == (1, 1, {"503": 1})
    assert figures["server_inference_mean_ms"] == 6.0
    assert figures["p50_ms"] == 200.0


def test_quantiles_need_two_latencies_and_stay_within_them() -> None:
    assert quantiles_ms([0.1]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = quantiles_ms([0.01 * i for i in range(1, 101)])
    assert cuts == {"p50_ms": pytest.approx(505.0), "p95_ms": pytest.approx(950.5), "p99_ms": pytest.approx(990.1)}
