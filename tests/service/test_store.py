"""PredictionStore: results survive restarts, the file stays within its bound, and eviction is oldest first.

Links to a result are handed out as soon as it is stored, so a lost, reordered or prematurely evicted row is a
broken link for a client; concurrent requests share one store, so puts from several threads must all land.
"""

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from camserve.service.store import EVICTION_ORDER, SIZE_SUM, NewResult, PredictionStore

PHOTO_BYTES = 1000
ROOMY = 100 * 1024 * 1024


def make_maps(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 7, 7)).astype(np.float32)


def make_result(prediction_id: str) -> dict[str, object]:
    return {"id": prediction_id, "label": "cat", "probabilities": {"cat": 0.75, "dog": 0.25}, "width": 640}


def put_numbered(store: PredictionStore, number: int, photo_bytes: int = PHOTO_BYTES) -> str:
    prediction_id = f"p{number:04d}"
    store.put(prediction_id, make_result(prediction_id), bytes([number % 256]) * photo_bytes, make_maps(number))
    return prediction_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PredictionStore]:
    opened = PredictionStore(tmp_path / "store.sqlite3", ROOMY)
    yield opened
    opened.close()


def entry_size(tmp_path: Path) -> int:
    """The accounted size of one put_numbered entry, measured rather than guessed from the npy header."""
    probe = PredictionStore(tmp_path / "probe.sqlite3", ROOMY)
    try:
        put_numbered(probe, 0)
        return probe.total_bytes()
    finally:
        probe.close()


def test_put_then_get_round_trips(store: PredictionStore) -> None:
    maps = make_maps(1)
    photo = b"\x89PNG fake photo bytes \x00\xff"
    store.put("abc", make_result("abc"), photo, maps)
    stored = store.get("abc")
    assert stored is not None
    assert stored.result == make_result("abc")
    assert stored.photo == photo
    assert stored.class_maps.dtype == np.float32
    assert np.array_equal(stored.class_maps, maps)
    assert store.get_result("abc") == make_result("abc")
    assert store.count() == 1


def test_maps_are_stored_as_float32(store: PredictionStore) -> None:
    maps = np.arange(8, dtype=np.float64).reshape(2, 2, 2) / 4
    store.put("f64", {}, b"x", maps)
    stored = store.get("f64")
    assert stored is not None
    assert stored.class_maps.dtype == np.float32
    assert np.array_equal(stored.class_maps, maps)


def test_unknown_id_is_none(store: PredictionStore) -> None:
    put_numbered(store, 1)
    assert store.get("missing") is None
    assert store.get_result("missing") is None


def test_results_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.sqlite3"  # the parent folders are created too
    first = PredictionStore(path, ROOMY)
    ids = [put_numbered(first, number) for number in range(3)]
    first.close()
    reopened = PredictionStore(path, ROOMY)
    try:
        assert reopened.count() == 3
        for number, prediction_id in enumerate(ids):
            stored = reopened.get(prediction_id)
            assert stored is not None
            assert stored.result == make_result(prediction_id)
            assert stored.photo == bytes([number]) * PHOTO_BYTES
            assert np.array_equal(stored.class_maps, make_maps(number))
    finally:
        reopened.close()


def test_eviction_keeps_the_bound_and_removes_the_oldest_first(tmp_path: Path) -> None:
    size = entry_size(tmp_path)
    kept = 4
    store = PredictionStore(tmp_path / "store.sqlite3", kept * size + size // 2)
    try:
        ids = []
        for number in range(40):
            ids.append(put_numbered(store, number))
            assert store.total_bytes() <= store.max_bytes
            assert store.get(ids[-1]) is not None
        present = [store.get_result(prediction_id) is not None for prediction_id in ids]
        assert present == [False] * (len(ids) - kept) + [True] * kept
        assert store.count() == kept
    finally:
        store.close()


def test_eviction_frees_only_what_is_needed(tmp_path: Path) -> None:
    """One small overflow evicts one old row, not everything."""
    size = entry_size(tmp_path)
    store = PredictionStore(tmp_path / "store.sqlite3", 3 * size)
    try:
        ids = [put_numbered(store, number) for number in range(4)]
        assert [store.get_result(prediction_id) is not None for prediction_id in ids] == [False, True, True, True]
    finally:
        store.close()


def test_the_row_just_stored_is_never_evicted(tmp_path: Path) -> None:
    """Even a result larger than the whole bound stays (its links were just handed out); the others go."""
    size = entry_size(tmp_path)
    store = PredictionStore(tmp_path / "store.sqlite3", 3 * size)
    try:
        small = [put_numbered(store, number) for number in range(3)]
        big = put_numbered(store, 99, photo_bytes=10 * size)
        assert store.get(big) is not None
        assert all(store.get_result(prediction_id) is None for prediction_id in small)
        assert store.count() == 1
        after = put_numbered(store, 100)  # the oversized one is now the oldest and goes first
        assert store.get_result(big) is None
        assert store.get_result(after) is not None
        assert store.total_bytes() <= store.max_bytes
    finally:
        store.close()


@pytest.mark.parametrize(("query", "parameters"), [(SIZE_SUM, ()), (EVICTION_ORDER, (1,))])
def test_size_queries_read_only_the_size_index(store: PredictionStore, query: str, parameters: tuple[int, ...]) -> None:
    """Sizes are stored after the blobs, so a table scan for them would read every photo on every put."""
    put_numbered(store, 1)
    plan = " ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}", parameters))
    assert "USING COVERING INDEX predictions_seq_size" in plan, plan


def test_the_running_total_matches_the_rows_through_evictions_and_failures(tmp_path: Path) -> None:
    """The bound is enforced against an in-memory total; it must never drift from what the file holds."""
    size = entry_size(tmp_path)
    path = tmp_path / "store.sqlite3"
    store = PredictionStore(path, 3 * size + size // 2)
    try:
        for number in range(10):
            put_numbered(store, number, photo_bytes=PHOTO_BYTES * (1 + number % 3))
            with pytest.raises(sqlite3.IntegrityError):
                put_numbered(store, number)
            assert store.total_bytes() == store._db.execute(SIZE_SUM).fetchone()[0]
        total = store.total_bytes()
    finally:
        store.close()
    reopened = PredictionStore(path, ROOMY)
    try:
        assert reopened.total_bytes() == total
    finally:
        reopened.close()


def test_an_existing_store_gains_the_size_index(tmp_path: Path) -> None:
    """Files written before the index existed get it when opened, with their rows intact."""
    path = tmp_path / "store.sqlite3"
    store = PredictionStore(path, ROOMY)
    put_numbered(store, 1)
    store._db.execute("DROP INDEX predictions_seq_size")
    store.close()
    reopened = PredictionStore(path, ROOMY)
    try:
        indexes = {row[1] for row in reopened._db.execute("PRAGMA index_list(predictions)")}
        assert "predictions_seq_size" in indexes
        assert reopened.get_result("p0001") is not None
    finally:
        reopened.close()


def test_duplicate_id_fails_and_leaves_the_store_usable(store: PredictionStore) -> None:
    """A failed put must roll back its transaction, or every later put would fail on BEGIN."""
    put_numbered(store, 1)
    with pytest.raises(sqlite3.IntegrityError):
        put_numbered(store, 1)
    second = put_numbered(store, 2)
    assert store.get_result(second) is not None
    assert store.count() == 2


def test_concurrent_puts_all_land(store: PredictionStore) -> None:
    threads_count, per_thread = 6, 15
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            for number in range(offset, offset + per_thread):
                put_numbered(store, number)
                assert store.get_result(f"p{number:04d}") is not None
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index * per_thread,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert store.count() == threads_count * per_thread
    for number in range(threads_count * per_thread):
        stored = store.get(f"p{number:04d}")
        assert stored is not None
        assert np.array_equal(stored.class_maps, make_maps(number))


def test_delete_frees_its_bytes_and_only_its_row(store: PredictionStore) -> None:
    kept, gone = put_numbered(store, 1), put_numbered(store, 2)
    one_entry = store.total_bytes() // 2
    assert store.delete(gone)
    assert not store.delete(gone)
    assert store.get(gone) is None and not store.exists(gone)
    assert store.get(kept) is not None
    assert store.total_bytes() == one_entry
    assert store.count() == 1


def test_expired_results_are_unreadable_then_swept(tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "store.sqlite3", ROOMY, retention_s=60)
    try:
        now = time.time()
        store.put("old", make_result("old"), b"old photo", make_maps(1), created=now - 61)
        store.put("new", make_result("new"), b"new photo", make_maps(2), created=now)
        assert store.get_result("old") is None and store.get("old") is None and not store.exists("old")
        assert not store.delete("old")  # already gone for readers: not the client's to delete
        assert store.expires_at(now) == now + 60
        assert store.sweep() == ["old"]
        assert store.sweep() == []
        assert store.count() == 1
        assert store.total_bytes() == store._db.execute(SIZE_SUM).fetchone()[0]
        assert store.get_result("new") == make_result("new")
    finally:
        store.close()


def test_without_retention_nothing_expires_or_is_swept(store: PredictionStore) -> None:
    store.put("ancient", make_result("ancient"), b"photo", make_maps(1), created=0.0)
    assert store.expires_at(0.0) is None
    assert store.sweep() == []
    assert store.get_result("ancient") == make_result("ancient")


def test_a_store_from_before_retention_gets_creation_times_from_its_results(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE predictions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
            "result TEXT NOT NULL, photo BLOB NOT NULL, class_maps BLOB NOT NULL, size INTEGER NOT NULL)"
        )
        for prediction_id, created_at in (("week-old", "2026-01-01T00:00:00.000+00:00"), ("fresh", None)):
            stamp = created_at or datetime.now(UTC).isoformat(timespec="milliseconds")
            result = json.dumps({"id": prediction_id, "created_at": stamp})
            db.execute(
                "INSERT INTO predictions (id, result, photo, class_maps, size) VALUES (?, ?, x'00', x'00', 3)",
                (prediction_id, result),
            )
        db.commit()
    store = PredictionStore(path, ROOMY, retention_s=3600)
    try:
        assert store.get_result("week-old") is None
        assert store.get_result("fresh") is not None
        assert store.sweep() == ["week-old"]
    finally:
        store.close()


def test_put_many_stores_a_group_in_one_transaction_and_spares_it_from_eviction(tmp_path: Path) -> None:
    """A group commit: all of the group or none of it, and eviction takes older rows, never the group's own."""
    store = PredictionStore(tmp_path / "s.sqlite3", max_bytes=12_000)
    old = [put_numbered(store, n) for n in range(6)]
    group = [NewResult(f"g{n}", make_result(f"g{n}"), b"g" * PHOTO_BYTES, make_maps(n), time.time()) for n in range(4)]
    store.put_many(group)
    assert all(store.get(new.prediction_id) is not None for new in group)
    assert [store.get(prediction_id) is not None for prediction_id in old][:2] == [False, False]
    assert store.total_bytes() <= 12_000
    with pytest.raises(sqlite3.IntegrityError):  # g0 again: the whole group is refused, h0 included
        store.put_many([NewResult("h0", {}, b"h", make_maps(0), time.time()), group[0]])
    assert store.get("h0") is None
