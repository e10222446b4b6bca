"""Dynamic batching: concurrent requests share one forward pass, behind a bounded queue.

Requests wait in a queue; one loop takes whatever is queued (up to ``max_batch_size``), runs the batch on
the inference thread, and hands each caller its own result. Requests that arrive while a batch runs queue
up and form the next batch, so under load batches grow by themselves. Before a batch goes, the loop waits
up to ``max_wait_s`` for photos still being decoded (see ``arriving``), and for nothing else: a lone
request never waits for company that is not on its way. A full queue refuses at once (``Overloaded``)
instead of letting latency grow without bound. With ``max_in_flight`` above 1 (a runtime with lanes:
``camserve.models.selection.lanes``), a full batch may start beside the running ones, on a thread of its own.
"""

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from camserve.models.inference.predictor import Prediction


class Overloaded(RuntimeError):
    """The queue in front of inference is full; the caller should retry later."""


class ShuttingDown(RuntimeError):
    """The service is stopping and will run no more forwards; the caller should go to another replica."""


@dataclass
class _Pending:
    pixels: np.ndarray
    future: asyncio.Future[Prediction]
    queued_at: float


class DynamicBatcher:
    def __init__(
        self,
        forward: Callable[[list[np.ndarray]], list[Prediction]],
        executor: Executor,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        observe_queue_wait: Callable[[float], None] = lambda _seconds: None,
        max_in_flight: int = 1,
    ) -> None:
        self._forward = forward
        self._observe_queue_wait = observe_queue_wait
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queue)
        self._loop_task: asyncio.Task[None] | None = None
        self.max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()  # a photo queued or a forward ended: what ``_turn`` waits for
        self._arriving = 0
        self._stopped = False

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="camserve-batcher")

    async def stop(self) -> None:
        self._stopped = True
        running = [task for task in (self._loop_task, *self._in_flight) if task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(ShuttingDown("the service is shutting down"))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a photo as on its way to ``submit`` (being decoded), so a forming batch waits for it.

        Used on the event loop only; leave the block and call ``submit`` with no ``await`` between, or the
        batch may go in that gap without the photo.
        """
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    async def submit(self, pixels: np.ndarray) -> Prediction:
        (prediction,) = await self.submit_all([pixels])
        return prediction

    async def submit_all(self, views: Sequence[np.ndarray]) -> list[Prediction]:
        """Queue every view of one photo at once, so they can share a forward; all of them or, when they do
        not all fit in the queue, none (Overloaded)."""
        if self._stopped:
            raise ShuttingDown("the service is shutting down")
        if self._queue.maxsize - self._queue.qsize() < len(views):
            raise Overloaded(f"{self._queue.maxsize} photos are already waiting for the model")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Prediction]] = [loop.create_future() for _ in views]
        queued_at = time.perf_counter()
        for pixels, future in zip(views, futures, strict=True):
            self._queue.put_nowait(_Pending(pixels, future, queued_at))
        self._changed.set()
        return list(await asyncio.gather(*futures))

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            if not self._arriving:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return [p for p in batch if not p.future.cancelled()]

    async def _run(self) -> None:
        while True:
            await self._turn()
            batch = await self._gather()
            if not batch:
                continue
            self._in_flight.add(asyncio.create_task(self._forward_batch(batch), name="camserve-forward"))

    async def _turn(self) -> None:
        """Until a batch may go: no forward running; or, with lanes, a lane free and a full batch waiting for it
        (a batch that is not full waits for the running ones, and goes alone on every core)."""
        while len(self._in_flight) >= self.max_in_flight or (
            self._in_flight and self._queue.qsize() < self.max_batch_size
        ):
            self._changed.clear()
            await self._changed.wait()

    async def _forward_batch(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for pending in batch:
            self._observe_queue_wait(started - pending.queued_at)
        try:
            predictions = await loop.run_in_executor(self._executor, self._forward, [p.pixels for p in batch])
        except asyncio.CancelledError:  # stopped mid-forward: its callers must hear so, not wait forever
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(ShuttingDown("the service is shutting down"))
            raise
        except Exception as error:  # one bad batch must not stop the batcher; its callers get the error
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        finally:
            self._in_flight.discard(asyncio.current_task())
            self._changed.set()
        for pending, prediction in zip(batch, predictions, strict=True):
            if not pending.future.done():
                pending.future.set_result(prediction)
