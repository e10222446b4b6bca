"""The sweep: with ``CAMSERVE_RETENTION_S`` set, expired results are deleted in the background.

Readers stop seeing a result the moment it expires (the store checks the time on every read); the sweep is
what deletes its bytes, from the store and from the cache of rendered pictures. It also lets a store finish
clean-up an outage interrupted (bucket objects whose rows are gone), so it runs without retention too.
"""

import asyncio
import logging

from camserve.service.state import AppState
from camserve.service.stores import StoreUnavailable

log = logging.getLogger("camserve")

MAX_SWEEP_INTERVAL_S = 60.0
MIN_SWEEP_INTERVAL_S = 1.0


def sweep_interval_s(retention_s: float | None) -> float:
    """A tenth of the retention, within 1 s and 60 s: bytes outlive their expiry by at most that."""
    if retention_s is None:
        return MAX_SWEEP_INTERVAL_S
    return min(MAX_SWEEP_INTERVAL_S, max(MIN_SWEEP_INTERVAL_S, retention_s / 10))


async def sweep_forever(state: AppState, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            gone = await asyncio.to_thread(state.store.sweep)
        except StoreUnavailable as error:  # an outage must not end the sweeping; the next round tries again
            log.warning("camserve: the sweep failed: %s", error)
            continue
        state.forget_pictures(gone)
        if gone:
            log.info("camserve: deleted %d expired results", len(gone))
