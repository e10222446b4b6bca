"""glibc's allocator, set for a server that decodes and draws large photos on many threads.

Large freed buffers stay in glibc's per-thread arenas instead of going back to the system, so a burst of
24-megapixel work grew a replica past its memory limit even inside the memory budget (bench/memory.py; the
memory-limit test was killed at 1536 MiB twice in a row without these settings). Two settings fix it: at most
two arenas (``MALLOC_ARENA_MAX=2``) and every buffer of 1 MiB or more in its own mapping
(``MALLOC_MMAP_THRESHOLD_=1048576``), which goes back to the system the moment it is freed. They are applied
with ``mallopt`` when ``camserve serve`` starts, so a replica started outside the image is as safe as one in
it; an operator's own ``MALLOC_*`` variable wins. Elsewhere (musl, another allocator) nothing happens.
"""

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Mapping

__all__ = ["ARENA_MAX", "MMAP_THRESHOLD_BYTES", "libc", "tune_for_large_buffers"]

log = logging.getLogger("camserve")

ARENA_MAX = 2
MMAP_THRESHOLD_BYTES = 1024 * 1024
# mallopt's parameter numbers (glibc's malloc.h), each with the environment variable that sets it at start.
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_SETTINGS = (
    (_M_ARENA_MAX, "MALLOC_ARENA_MAX", ARENA_MAX),
    (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD_BYTES),
)


def libc() -> ctypes.CDLL | None:
    """The C library this process runs on, or None where ctypes cannot name it."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name is not None else None


def tune_for_large_buffers(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Apply the two settings this process's environment does not set already; return those applied."""
    library = libc()
    mallopt = getattr(library, "mallopt", None)
    if mallopt is None:
        return {}
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = {}
    for parameter, variable, value in _SETTINGS:
        if variable in environ:
            continue
        if mallopt(parameter, value) != 1:
            log.warning("camserve: glibc refused mallopt %s=%d", variable, value)
            continue
        applied[variable] = value
    return applied
