"""The memory budget: reservations within it go at once, past it they wait, time out (503) or, larger than all of
it, are refused (413); small ones pass large ones that wait; every byte comes back, however a wait ends."""

import asyncio

import pytest

from camserve.models.inference.decode import PhotoTooLarge
from camserve.service.memory_budget import MemoryBudget, MemoryBusy
from tests.support.aio import run_in_own_loop

LONG_S = 30.0  # a wait the test never lets run out


def test_reservations_within_the_budget_go_at_once_and_come_back() -> None:
    async def main() -> tuple[int, int]:
        budget = MemoryBudget(100)
        with await budget.reserve(60, LONG_S, "a"), await budget.reserve(40, LONG_S, "b"):
            held = budget.reserved
        return held, budget.reserved

    assert run_in_own_loop(main()) == (100, 0)


def test_more_than_the_whole_budget_is_refused_at_once_as_too_large() -> None:
    outcomes: list[tuple[float, str]] = []

    async def main() -> None:
        budget = MemoryBudget(100, lambda seconds, outcome: outcomes.append((seconds, outcome)))
        await budget.reserve(101, LONG_S, "drawing the overlay")

    with pytest.raises(PhotoTooLarge, match="drawing the overlay needs about"):
        run_in_own_loop(main())
    assert outcomes == [(0.0, "refused")]


def test_a_wait_past_its_timeout_is_busy_and_leaves_nothing_held() -> None:
    outcomes: list[str] = []

    async def main() -> int:
        budget = MemoryBudget(100, lambda _seconds, outcome: outcomes.append(outcome))
        with await budget.reserve(80, LONG_S, "big"), pytest.raises(MemoryBusy, match=r"waited 0\.05 s"):
            await budget.reserve(30, 0.05, "second")
        return budget.reserved

    assert run_in_own_loop(main()) == 0
    assert outcomes == ["timed_out"]


def test_a_waiter_goes_when_bytes_come_back() -> None:
    async def main() -> list[str]:
        budget = MemoryBudget(100)
        order: list[str] = []
        first = await budget.reserve(80, LONG_S, "first")

        async def second() -> None:
            with await budget.reserve(50, LONG_S, "second"):
                order.append("second holds")

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)  # let it start waiting
        order.append("first releases")
        with first:
            pass
        await waiting
        return order

    assert run_in_own_loop(main()) == ["first releases", "second holds"]


def test_a_small_reservation_passes_a_large_one_that_waits() -> None:
    """No head-of-line blocking: a large photo waiting for room does not hold up a small one that fits."""

    async def main() -> tuple[bool, int]:
        budget = MemoryBudget(100)
        held = await budget.reserve(60, LONG_S, "held")
        large = asyncio.create_task(budget.reserve(70, LONG_S, "large"))
        await asyncio.sleep(0)
        with await asyncio.wait_for(budget.reserve(10, LONG_S, "small"), 1.0):
            large_still_waits = not large.done()
        with held:
            pass
        with await large:
            return large_still_waits, budget.reserved

    assert run_in_own_loop(main()) == (True, 70)


def test_a_cancelled_waiter_leaves_the_budget_whole() -> None:
    """A client that goes away while its request waits (the task is cancelled) must leave no bytes held, and no
    waiter behind to be granted bytes later."""

    async def main() -> int:
        budget = MemoryBudget(100)
        held = await budget.reserve(100, LONG_S, "held")
        waiting = asyncio.create_task(budget.reserve(50, LONG_S, "waiting"))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with held:
            pass
        return budget.reserved

    assert run_in_own_loop(main()) == 0
