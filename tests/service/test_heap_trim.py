"""Heap trimming after large work: only after large reservations, one trim at a time, one more for work freed
while a trim ran."""

import asyncio
import threading

from camserve.service.heap_trim import HeapTrimmer, malloc_trim
from tests.support.aio import run_in_own_loop

LARGE = 100


def test_glibc_has_malloc_trim_here() -> None:
    """The image and this machine run glibc: the trim is real, not the do-nothing fallback."""
    assert malloc_trim is not None
    assert malloc_trim(0) in (0, 1)


def test_only_large_releases_trim() -> None:
    calls: list[int] = []

    async def main() -> int:
        trimmer = HeapTrimmer(lambda pad: calls.append(pad) or 1, large_bytes=LARGE)
        trimmer.released(LARGE - 1)
        trimmer.released(LARGE)
        while trimmer.trims < 1:
            await asyncio.sleep(0.001)
        return trimmer.trims

    assert run_in_own_loop(main()) == 1
    assert calls == [0]


def test_releases_during_a_trim_make_one_more_trim_not_one_each() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def slow_trim(pad: int) -> int:
        calls.append(pad)
        gate.wait(5.0)
        return 1

    async def main() -> int:
        trimmer = HeapTrimmer(slow_trim, large_bytes=LARGE)
        trimmer.released(LARGE)
        while not calls:
            await asyncio.sleep(0.001)
        for _ in range(3):
            trimmer.released(LARGE)  # while the first trim runs
        gate.set()
        while trimmer.trims < 2:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)  # room for a third trim, which must not come
        return trimmer.trims

    assert run_in_own_loop(main()) == 2
    assert len(calls) == 2


def test_without_malloc_trim_nothing_happens() -> None:
    async def main() -> None:
        HeapTrimmer(None, large_bytes=LARGE).released(LARGE)

    run_in_own_loop(main())
