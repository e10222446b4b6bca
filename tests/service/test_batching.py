"""Dynamic batching: concurrent photos share forwards, each caller gets its own result, a full queue refuses."""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from camserve.models.inference.predictor import Prediction
from camserve.service.batching import DynamicBatcher, Overloaded, ShuttingDown
from tests.support.aio import run_in_own_loop


def tagged(value: float) -> np.ndarray:
    return np.full((3, 4, 4), value, dtype=np.float32)


def echo_forward(batch_sizes: list[int], delay_s: float = 0.0) -> Callable[[list[np.ndarray]], list[Prediction]]:
    """A stand-in model: each result carries its own input's value, so a mix-up would show."""

    def forward(batch: list[np.ndarray]) -> list[Prediction]:
        batch_sizes.append(len(batch))
        time.sleep(delay_s)
        return [Prediction(np.array([float(x[0, 0, 0])]), np.zeros((1, 2, 2), np.float32)) for x in batch]

    return forward


def run_with_batcher(forward: Callable, body: Callable, **options: object) -> object:
    """``body`` against a running batcher; ``max_in_flight`` (lanes) gets as many executor threads."""

    async def main() -> object:
        with ThreadPoolExecutor(max_workers=int(options.get("max_in_flight", 1))) as executor:
            defaults = {"max_batch_size": 8, "max_wait_s": 0.01, "max_queue": 64}
            batcher = DynamicBatcher(forward, executor, **(defaults | options))
            batcher.start()
            try:
                return await body(batcher)
            finally:
                await batcher.stop()

    return run_in_own_loop(main())


def test_concurrent_requests_share_forwards_and_keep_their_results() -> None:
    sizes: list[int] = []

    async def body(batcher: DynamicBatcher) -> list[Prediction]:
        return await asyncio.gather(*(batcher.submit(tagged(i)) for i in range(20)))

    results = run_with_batcher(echo_forward(sizes, delay_s=0.02), body)
    assert [float(r.probabilities[0]) for r in results] == [float(i) for i in range(20)]
    assert sum(sizes) == 20
    assert max(sizes) == 8  # capped at max_batch_size
    assert len(sizes) <= 4


def test_a_lone_request_does_not_wait_for_company() -> None:
    """With no photo being decoded, even a long max_wait costs a single request nothing."""

    async def body(batcher: DynamicBatcher) -> float:
        started = time.perf_counter()
        await batcher.submit(tagged(1))
        return time.perf_counter() - started

    assert run_with_batcher(echo_forward([]), body, max_wait_s=5.0) < 0.5


def test_a_batch_waits_for_a_photo_still_being_decoded() -> None:
    sizes: list[int] = []

    async def body(batcher: DynamicBatcher) -> list[Prediction]:
        async def decode_then_submit(value: float, decode_s: float) -> Prediction:
            with batcher.arriving():
                await asyncio.sleep(decode_s)
            return await batcher.submit(tagged(value))

        return await asyncio.gather(decode_then_submit(1, 0.0), decode_then_submit(2, 0.05))

    results = run_with_batcher(echo_forward(sizes), body, max_wait_s=5.0)
    assert [float(r.probabilities[0]) for r in results] == [1.0, 2.0]
    assert sizes == [2]


def test_the_wait_for_an_arriving_photo_is_bounded_by_max_wait() -> None:
    """A photo that is announced but never submitted (its decoding failed) delays the batch by max_wait only."""
    sizes: list[int] = []

    async def body(batcher: DynamicBatcher) -> float:
        with batcher.arriving():
            started = time.perf_counter()
            await batcher.submit(tagged(1))
            return time.perf_counter() - started

    waited = run_with_batcher(echo_forward(sizes), body, max_wait_s=0.2)
    assert 0.2 <= waited < 2.0
    assert sizes == [1]


def test_a_full_queue_refuses_at_once() -> None:
    release = threading.Event()

    def blocked_forward(batch: list[np.ndarray]) -> list[Prediction]:
        release.wait(5)
        return echo_forward([])(batch)

    async def body(batcher: DynamicBatcher) -> tuple[int, float]:
        first = asyncio.create_task(batcher.submit(tagged(0)))  # taken by the loop, blocks the forward
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(batcher.submit(tagged(i))) for i in range(1, 3)]
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        with pytest.raises(Overloaded, match="2 photos are already waiting"):
            await batcher.submit(tagged(99))
        refused_in = time.perf_counter() - started
        release.set()
        done = await asyncio.gather(first, *queued)
        return len(done), refused_in

    accepted, refused_in = run_with_batcher(blocked_forward, body, max_queue=2, max_batch_size=1)
    assert accepted == 3
    assert refused_in < 0.01


def test_a_failing_forward_fails_its_callers_and_the_loop_goes_on() -> None:
    calls = []

    def flaky_forward(batch: list[np.ndarray]) -> list[Prediction]:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("device fell over")
        return echo_forward([])(batch)

    async def body(batcher: DynamicBatcher) -> float:
        with pytest.raises(RuntimeError, match="device fell over"):
            await batcher.submit(tagged(1))
        return float((await batcher.submit(tagged(2))).probabilities[0])

    assert run_with_batcher(flaky_forward, body) == 2.0


def test_stopping_says_shutting_down_not_busy() -> None:
    """The photo in the forward, the photo still queued, and a photo sent after the stop are all told the service
    is stopping: none waits forever, and none reads "busy, retry here"."""
    release = threading.Event()

    def blocked_forward(batch: list[np.ndarray]) -> list[Prediction]:
        release.wait(5)
        return echo_forward([])(batch)

    async def body(batcher: DynamicBatcher) -> list[object]:
        in_forward = asyncio.create_task(batcher.submit(tagged(0)))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.submit(tagged(1)))
        await asyncio.sleep(0.01)
        await batcher.stop()
        release.set()
        after = asyncio.create_task(batcher.submit(tagged(2)))
        return await asyncio.gather(in_forward, queued, after, return_exceptions=True)

    outcomes = run_with_batcher(blocked_forward, body, max_batch_size=1)
    assert [type(outcome) for outcome in outcomes] == [ShuttingDown, ShuttingDown, ShuttingDown]


def test_queue_wait_is_observed_per_photo() -> None:
    waits: list[float] = []

    async def body(batcher: DynamicBatcher) -> list[Prediction]:
        return await asyncio.gather(*(batcher.submit(tagged(i)) for i in range(3)))

    run_with_batcher(echo_forward([]), body, observe_queue_wait=waits.append)
    assert len(waits) == 3
    assert all(0.0 <= wait < 1.0 for wait in waits)


def test_views_of_one_photo_share_a_forward_or_are_all_refused() -> None:
    """Serve-time TTA queues a photo's views together: one batch for both, and never half of them."""
    sizes: list[int] = []
    release = threading.Event()

    def forward(batch: list[np.ndarray]) -> list[Prediction]:
        release.wait(5)
        return echo_forward(sizes)(batch)

    async def body(batcher: DynamicBatcher) -> tuple[list[float], int]:
        views = await batcher.submit_all([tagged(1), tagged(2)])  # released at once: one batch of two
        release.clear()
        blocker = asyncio.create_task(batcher.submit(tagged(0)))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.submit(tagged(3)))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):  # one free slot, two views: neither is queued
            await batcher.submit_all([tagged(4), tagged(5)])
        left = batcher.queued
        release.set()
        await asyncio.gather(blocker, queued)
        return [float(p.probabilities[0]) for p in views], left

    release.set()
    tags, left = run_with_batcher(forward, body, max_queue=2, max_batch_size=2)
    assert tags == [1.0, 2.0]
    assert sizes[0] == 2
    assert left == 1


def overlap_forward(
    running: list[int], most: list[int], sizes: list[int]
) -> Callable[[list[np.ndarray]], list[Prediction]]:
    """A stand-in model that notes how many forwards run at once (``most``) and each batch's size."""
    lock = threading.Lock()

    def forward(batch: list[np.ndarray]) -> list[Prediction]:
        with lock:
            running[0] += 1
            most.append(running[0])
            sizes.append(len(batch))
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return echo_forward([])(batch)

    return forward


def test_with_lanes_full_batches_run_side_by_side_and_keep_their_results() -> None:
    running, most, sizes = [0], [], []

    async def body(batcher: DynamicBatcher) -> list[Prediction]:
        return await asyncio.gather(*(batcher.submit(tagged(i)) for i in range(16)))

    results = run_with_batcher(overlap_forward(running, most, sizes), body, max_batch_size=4, max_in_flight=2)
    assert [float(r.probabilities[0]) for r in results] == [float(i) for i in range(16)]
    assert max(most) == 2
    assert sizes == [4, 4, 4, 4]


def test_with_lanes_a_batch_that_is_not_full_waits_and_runs_alone() -> None:
    """Beside a running forward only a full batch starts; three photos wait for it, then go as one batch."""
    running, most, sizes = [0], [], []

    async def body(batcher: DynamicBatcher) -> list[Prediction]:
        first = asyncio.ensure_future(batcher.submit(tagged(0)))
        await asyncio.sleep(0.01)  # the first photo's forward is running
        rest = [batcher.submit(tagged(i)) for i in (1, 2, 3)]
        return [await first, *await asyncio.gather(*rest)]

    results = run_with_batcher(overlap_forward(running, most, sizes), body, max_batch_size=4, max_in_flight=2)
    assert [float(r.probabilities[0]) for r in results] == [0.0, 1.0, 2.0, 3.0]
    assert max(most) == 1
    assert sizes == [1, 3]


def test_with_lanes_stopping_tells_every_caller_in_flight() -> None:
    release = threading.Event()

    def forward(batch: list[np.ndarray]) -> list[Prediction]:
        release.wait(5)
        return echo_forward([])(batch)

    async def main() -> list[BaseException | Prediction]:
        with ThreadPoolExecutor(max_workers=2) as executor:
            batcher = DynamicBatcher(forward, executor, 2, 0.0, 64, max_in_flight=2)
            batcher.start()
            calls = [asyncio.ensure_future(batcher.submit(tagged(i))) for i in range(4)]
            await asyncio.sleep(0.05)  # two full batches in flight, side by side
            await batcher.stop()
            release.set()
            return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = run_in_own_loop(main())
    assert [type(outcome) for outcome in outcomes] == [ShuttingDown] * 4
