"""The retention sweep: with ``CAMSERVE_RETENTION_S`` set, expired results are deleted in the background.

Readers stop seeing a result the moment it expires (the store checks the time on every read); the sweep is
what deletes its bytes, from the store and from the cache of rendered pictures.
"""

import asyncio
import logging
import sqlite3

from camserve.service.state import AppState

log = logging.getLogger("camserve")

MAX_SWEEP_INTERVAL_S = 60.0
MIN_SWEEP_INTERVAL_S = 1.0


def sweep_interval_s(retention_s: float) -> float:
    """A tenth of the retention, within 1 s and 60 s: bytes outlive their expiry by at most that."""
    return min(MAX_SWEEP_INTERVAL_S, max(MIN_SWEEP_INTERVAL_S, retention_s / 10))


async def sweep_forever(state: AppState, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            gone = await asyncio.to_thread(state.store.sweep)
        except sqlite3.Error:  # a busy or full disk must not end the sweeping; the next round tries again
            log.exception("camserve: the retention sweep failed")
            continue
        state.forget_pictures(gone)
        if gone:
            log.info("camserve: deleted %d expired results", len(gone))
