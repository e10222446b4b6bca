"""Group commit: results that arrive together share one transaction, and each waiter hears its own outcome."""

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from camserve.service.group_commit import GroupCommitter
from camserve.service.stores import NewResult, StoreLimits
from camserve.service.stores.sqlite import SqliteStore
from tests.support.aio import run_in_own_loop
from tests.support.stores import make_result

ROOMY = 100 * 1024 * 1024


class CountingStore(SqliteStore):
    """The real store, recording the size of every transaction ``put_many`` makes, and failing on request."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, StoreLimits(ROOMY))
        self.groups: list[int] = []
        self.fail_next = False

    def put_many(self, results: Sequence[NewResult]) -> None:
        self.groups.append(len(results))
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        time.sleep(0.02)  # a flush to disk takes a while: long enough for others to arrive meanwhile
        super().put_many(results)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path / "s.sqlite3")
    yield store
    store.close()


def new(name: str, photo_bytes: int = 100) -> NewResult:
    return NewResult(name, make_result(name), b"p" * photo_bytes, np.zeros((2, 5, 5), np.float32), time.time())


def test_a_lone_result_is_written_at_once(store: CountingStore) -> None:
    run_in_own_loop(GroupCommitter(store, ROOMY).put(new("a")))
    assert store.groups == [1]
    assert store.get("a") is not None


def test_results_arriving_together_share_one_transaction(store: CountingStore) -> None:
    async def batch() -> None:
        committer = GroupCommitter(store, ROOMY)
        await asyncio.gather(*(committer.put(new(f"r{n}")) for n in range(8)))

    run_in_own_loop(batch())
    assert store.groups == [8]
    assert store.count() == 8


def test_results_arriving_during_a_write_go_into_the_next_one(store: CountingStore) -> None:
    async def staggered() -> None:
        committer = GroupCommitter(store, ROOMY)
        first = asyncio.create_task(committer.put(new("first")))
        await asyncio.sleep(0.005)  # the first write is on its way to disk
        await asyncio.gather(first, *(committer.put(new(f"later{n}")) for n in range(5)))

    run_in_own_loop(staggered())
    assert store.groups == [1, 5]


def test_a_group_never_exceeds_its_byte_bound(store: CountingStore) -> None:
    async def big() -> None:
        committer = GroupCommitter(store, max_group_bytes=3 * 10_000)
        await asyncio.gather(*(committer.put(new(f"b{n}", photo_bytes=9_000)) for n in range(7)))

    run_in_own_loop(big())
    assert store.groups == [2, 2, 2, 1]  # each result counts ~13 kB with its maps and JSON allowance


def test_a_failed_write_fails_its_own_group_only(store: CountingStore) -> None:
    async def failing() -> list[BaseException | None]:
        committer = GroupCommitter(store, ROOMY)
        store.fail_next = True
        failed = await asyncio.gather(*(committer.put(new(f"f{n}")) for n in range(3)), return_exceptions=True)
        await committer.put(new("after"))
        return failed

    failed = run_in_own_loop(failing())
    assert all(isinstance(error, OSError) for error in failed)
    assert store.get("f0") is None
    assert store.get("after") is not None


def test_a_waiter_that_goes_away_does_not_cancel_the_write(store: CountingStore) -> None:
    """A client that disconnects mid-write gets no answer, but its neighbours' results, and its own, land."""

    async def impatient() -> None:
        committer = GroupCommitter(store, ROOMY)
        leaving = asyncio.create_task(committer.put(new("leaving")))
        staying = asyncio.create_task(committer.put(new("staying")))
        await asyncio.sleep(0.005)
        leaving.cancel()
        await staying

    run_in_own_loop(impatient())
    assert store.get("staying") is not None and store.get("leaving") is not None
