"""Durable writes for concurrent requests, several per transaction.

Every 201 means the result is on disk, and each transaction ends in a flush to disk that costs far more
than the rows in it. Under load the results of one forward batch are ready within the same moment, so
writing them one transaction each made them queue for the store's lock, one flush after another. Here the
first result to arrive is written at once, and every result that arrives while a write is on its way to
disk goes into the next transaction together: one flush for the group. Nothing waits for a group to fill,
so a lone request pays what it paid before, and each request still answers only after its own result is
committed.
"""

import asyncio
from dataclasses import dataclass, field

from camserve.service.stores import NewResult, PredictionStore

__all__ = ["GroupCommitter"]


@dataclass
class GroupCommitter:
    """``await put(result)`` returns once ``result`` is committed, or raises what the store raised for it.
    On the event loop only; the writes themselves run on a worker thread, one transaction at a time."""

    store: PredictionStore
    max_group_bytes: int  # a group never holds more than the store could keep beside its other rows
    _waiting: list[tuple[NewResult, "asyncio.Future[None]"]] = field(default_factory=list)
    _writer: "asyncio.Task[None] | None" = None

    async def put(self, result: NewResult) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((result, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name="camserve-group-commit")
        await asyncio.shield(done)  # a request that goes away does not take its neighbours' write with it

    async def _write_all(self) -> None:
        try:
            # One turn of the loop first: the other photos of the batch that finished with this one are
            # already scheduled to resume, and join this group instead of waiting for the next.
            await asyncio.sleep(0)
            while self._waiting:
                group = self._take_group()
                try:
                    await asyncio.to_thread(self.store.put_many, [result for result, _ in group])
                except Exception as error:  # every waiter hears why its write failed
                    for _, done in group:
                        done.set_exception(error)
                else:
                    for _, done in group:
                        done.set_result(None)
        finally:
            self._writer = None

    def _take_group(self) -> list[tuple[NewResult, "asyncio.Future[None]"]]:
        """The oldest waiting results, as many as fit in ``max_group_bytes`` (always at least one)."""
        size = 0
        for count, (result, _) in enumerate(self._waiting):
            size += result.approximate_bytes
            if count and size > self.max_group_bytes:
                break
        else:
            count = len(self._waiting)
        group, self._waiting = self._waiting[:count], self._waiting[count:]
        return group
