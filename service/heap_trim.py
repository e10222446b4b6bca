"""Hand freed heap memory back to the system after large work: glibc's ``malloc_trim(0)``.

glibc keeps what a thread frees in that thread's arena for reuse instead of returning it, and decoding and
drawing large photos on many request threads leaves hundreds of MiB free but held in those arenas after a
burst (bench/memory.py measured it; ``MALLOC_ARENA_MAX=2`` alone kept most of it, and jemalloc cannot be
preloaded beside OpenVINO). ``malloc_trim(0)`` returns the free pages of every arena. It costs milliseconds
and locks each arena while it runs, so it runs on a thread, after large reservations of the memory budget
only, and never twice at once. Where the C library has no ``malloc_trim`` (musl) this does nothing; with
another allocator preloaded, it trims glibc's own (unused) arenas, which is harmless.
"""

import asyncio
import ctypes
from collections.abc import Callable

from camserve.service.allocator import libc

__all__ = ["HeapTrimmer", "malloc_trim"]

MIB = 1024 * 1024
LARGE_BYTES = 32 * MIB  # below this a reservation is an ordinary photo's: nothing worth a trim


def _load_malloc_trim() -> Callable[[int], int] | None:
    function = getattr(libc(), "malloc_trim", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


malloc_trim = _load_malloc_trim()


class HeapTrimmer:
    """Trims once large work is done: ``released`` is told of every reservation the memory budget gives back."""

    def __init__(self, trim: Callable[[int], int] | None = malloc_trim, large_bytes: int = LARGE_BYTES) -> None:
        self._trim = trim
        self._large_bytes = large_bytes
        self._running: asyncio.Task[None] | None = None
        self._again = False
        self.trims = 0

    def released(self, nbytes: int) -> None:
        """On the event loop, after ``nbytes`` of the budget came back (the work's arrays already freed)."""
        if self._trim is None or nbytes < self._large_bytes:
            return
        if self._running is not None and not self._running.done():
            self._again = True  # this work's pages may have been freed after the running trim passed them
            return
        self._running = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        trim = self._trim
        assert trim is not None
        while True:
            self._again = False
            await asyncio.to_thread(trim, 0)
            self.trims += 1
            if not self._again:
                return
