"""One budget of bytes for everything that holds a full-size photo or picture at once.

A 24-megapixel photo is 72 MB as pixels and several times that while it is decoded, coloured, blended and
encoded, so a handful of them at once would pass a container's memory limit and the kernel would kill the
whole server. Each such stage reserves what it will hold before it allocates and gives it back when done;
past the budget a request waits (a bounded time, then ``MemoryBusy``: 503 with Retry-After), and one that
needs more than the whole budget is refused at once (``PhotoTooLarge``: 413, since it could never fit here).

Waiting is not first in, first out: whenever bytes come back, every waiter that now fits goes, in arrival
order, so a small photo never queues behind a large one the budget cannot take yet.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from camserve.models.inference.decode import PhotoTooLarge
from camserve.service.batching import Overloaded

__all__ = ["MemoryBudget", "MemoryBusy", "Reservation"]

MIB = 1024 * 1024


class MemoryBusy(Overloaded):
    """The memory budget stayed full for the whole wait: answered like a full queue, 503 with Retry-After."""


class Reservation:
    """Bytes held of a budget until the ``with`` block ends. A plain (not async) context manager, so leaving it
    never yields to the event loop: a photo's decode can reserve, run on a thread, release and be submitted to
    the batcher with no await in between (see ``DynamicBatcher.arriving``)."""

    def __init__(self, budget: "MemoryBudget", nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self._budget._release(self.nbytes)
        self._budget._released(self.nbytes)


@dataclass
class _Waiter:
    nbytes: int
    granted: asyncio.Future[None]


class MemoryBudget:
    """An asyncio byte semaphore of ``capacity`` bytes. On the event loop only; work on threads reserves on the
    loop before it is sent there and releases on the loop after it is back (``with await budget.reserve(...)``
    around the await of the thread)."""

    def __init__(
        self,
        capacity: int,
        observe_wait: Callable[[float, str], None] = lambda _s, _outcome: None,
        released: Callable[[int], None] = lambda _nbytes: None,
    ) -> None:
        """``observe_wait`` hears of every reservation that could not go at once (seconds, outcome);
        ``released`` of every reservation given back (its bytes), once its work is done."""
        if capacity < 1:
            raise ValueError("a memory budget needs at least one byte")
        self.capacity = capacity
        self.reserved = 0
        self._waiters: list[_Waiter] = []
        self._observe_wait = observe_wait
        self._released = released

    async def reserve(self, nbytes: int, timeout_s: float, what: str) -> Reservation:
        """``nbytes`` of the budget, to hold in a ``with`` block: ``with await budget.reserve(...):``. Nothing may
        be awaited between this returning and the block starting. ``what`` names the work in refusals."""
        await self._acquire(nbytes, timeout_s, what)
        return Reservation(self, nbytes)

    async def _acquire(self, nbytes: int, timeout_s: float, what: str) -> None:
        if nbytes > self.capacity:
            self._observe_wait(0.0, "refused")
            raise PhotoTooLarge(
                f"{what} needs about {nbytes / MIB:,.0f} MiB, more than this server's memory budget of "
                f"{self.capacity / MIB:,.0f} MiB (CAMSERVE_MEMORY_BUDGET_BYTES); send a smaller photo"
            )
        if self.reserved + nbytes <= self.capacity:  # even with larger ones waiting: see the module's docstring
            self.reserved += nbytes
            return
        waiter = _Waiter(nbytes, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.granted), timeout_s)
        except BaseException as error:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._release(nbytes)  # granted in the same moment as the timeout or the cancel: give it back
            else:
                waiter.granted.cancel()
                self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                self._observe_wait(time.perf_counter() - started, "timed_out")
                raise MemoryBusy(f"{what} waited {timeout_s:g} s for memory that other large photos hold") from error
            raise
        self._observe_wait(time.perf_counter() - started, "waited")

    def _release(self, nbytes: int) -> None:
        self.reserved -= nbytes
        self._grant()

    def _grant(self) -> None:
        """Every waiter that fits now, in arrival order; a large one that does not fit lets smaller ones by."""
        for waiter in list(self._waiters):
            if self.reserved + waiter.nbytes <= self.capacity:
                self._waiters.remove(waiter)
                self.reserved += waiter.nbytes
                waiter.granted.set_result(None)
