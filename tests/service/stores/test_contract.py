"""What every store promises, tested on each: results survive restarts, the total stays within its bound,
eviction is oldest first, groups are all or none, deletes and expiry are final.

Links to a result are handed out as soon as it is stored, so a lost, reordered or prematurely evicted row is a
broken link for a client; concurrent requests share one store, so puts from several threads must all land.
A reopened store stands for a restart, or for another replica on the same database.
"""

import threading
import time

import numpy as np
import pytest

from camserve.service.schemas import Zoom
from camserve.service.stores import DuplicateResult, NewResult, PredictionStore, StoreLimits
from tests.support.stores import PHOTO_BYTES, ROOMY, OpenStore, entry_size, make_maps, make_result, put_numbered


def test_put_then_get_round_trips(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
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
    maps_only = store.get_maps("abc")
    assert maps_only is not None and np.array_equal(maps_only[1], maps)
    assert store.exists("abc")
    assert store.count() == 1


def test_a_results_key_order_survives(open_any_store: OpenStore) -> None:
    """A stored result's probabilities are in its model's class-map order, and the service reads that order
    back to name the maps (``stored_classes``): a store that sorted keys (PostgreSQL's jsonb does) would
    silently pair maps with the wrong classes."""
    store = open_any_store(ROOMY)
    order = ["truck", "airplane", "dog", "bird", "cat", "zebra", "ant", "horse", "ship", "frog"]
    result = make_result("ordered").model_copy(
        update={
            "probabilities": {name: 0.1 for name in order},
            "zoom": Zoom(requested=True, used=True, photo_probabilities={"b": 0.5, "a": 0.5}),
        }
    )
    store.put("ordered", result, b"x", make_maps(2))
    stored, with_maps = store.get("ordered"), store.get_maps("ordered")
    assert stored is not None and with_maps is not None
    for read in (store.get_result("ordered"), stored.result, with_maps[0]):
        assert read is not None
        assert list(read.probabilities) == order
        assert list(read.zoom.photo_probabilities or {}) == ["b", "a"]


def test_maps_are_stored_as_float32(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
    maps = np.arange(8, dtype=np.float64).reshape(2, 2, 2) / 4
    store.put("f64", make_result("f64"), b"x", maps)
    stored = store.get("f64")
    assert stored is not None
    assert stored.class_maps.dtype == np.float32
    assert np.array_equal(stored.class_maps, maps)


def test_unknown_id_is_none(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
    put_numbered(store, 1)
    assert store.get("missing") is None
    assert store.get_result("missing") is None
    assert store.get_maps("missing") is None
    assert not store.exists("missing")
    assert not store.delete("missing")


def test_results_survive_close_and_reopen(open_any_store: OpenStore) -> None:
    first = open_any_store(ROOMY)
    ids = [put_numbered(first, number) for number in range(3)]
    first.close()
    reopened = open_any_store(ROOMY)
    assert reopened.count() == 3
    for number, prediction_id in enumerate(ids):
        stored = reopened.get(prediction_id)
        assert stored is not None
        assert stored.result == make_result(prediction_id)
        assert stored.photo == bytes([number]) * PHOTO_BYTES
        assert np.array_equal(stored.class_maps, make_maps(number))


def test_two_stores_on_one_database_see_each_other(open_any_store: OpenStore) -> None:
    """Two replicas: what one stores or deletes, the other reads at once."""
    one, other = open_any_store(ROOMY), open_any_store(ROOMY)
    written = put_numbered(one, 1)
    assert other.get_result(written) == make_result(written)
    assert other.delete(written)
    assert one.get(written) is None


def test_eviction_keeps_the_bound_and_removes_the_oldest_first(open_any_store: OpenStore) -> None:
    size = entry_size(open_any_store)
    kept = 4
    store = open_any_store(StoreLimits(kept * size + size // 2))
    ids = []
    for number in range(40):
        ids.append(put_numbered(store, number))
        assert store.total_bytes() <= store.max_bytes
        assert store.get(ids[-1]) is not None
    present = [store.get_result(prediction_id) is not None for prediction_id in ids]
    assert present == [False] * (len(ids) - kept) + [True] * kept
    assert store.count() == kept


def test_eviction_frees_only_what_is_needed(open_any_store: OpenStore) -> None:
    """One small overflow evicts one old row, not everything."""
    size = entry_size(open_any_store)
    store = open_any_store(StoreLimits(3 * size))
    ids = [put_numbered(store, number) for number in range(4)]
    assert [store.get_result(prediction_id) is not None for prediction_id in ids] == [False, True, True, True]


def test_the_row_just_stored_is_never_evicted(open_any_store: OpenStore) -> None:
    """Even a result larger than the whole bound stays (its links were just handed out); the others go."""
    size = entry_size(open_any_store)
    store = open_any_store(StoreLimits(3 * size))
    small = [put_numbered(store, number) for number in range(3)]
    big = put_numbered(store, 99, photo_bytes=10 * size)
    assert store.get(big) is not None
    assert all(store.get_result(prediction_id) is None for prediction_id in small)
    assert store.count() == 1
    after = put_numbered(store, 100)  # the oversized one is now the oldest and goes first
    assert store.get_result(big) is None
    assert store.get_result(after) is not None
    assert store.total_bytes() <= store.max_bytes


def test_the_running_total_survives_evictions_failures_and_reopening(open_any_store: OpenStore) -> None:
    """The bound is enforced against a running total; it must never drift from what is stored."""
    size = entry_size(open_any_store)
    store = open_any_store(StoreLimits(3 * size + size // 2))
    sizes = {}
    for number in range(10):
        before = store.total_bytes()
        prediction_id = put_numbered(store, number, photo_bytes=PHOTO_BYTES * (1 + number % 3))
        sizes[prediction_id] = store.total_bytes() - before
        with pytest.raises(DuplicateResult):
            put_numbered(store, number)
    alive = [prediction_id for prediction_id in sizes if store.exists(prediction_id)]
    total = store.total_bytes()
    assert total <= store.max_bytes
    store.close()
    reopened = open_any_store(ROOMY)
    assert reopened.total_bytes() == total
    for prediction_id in alive:
        assert reopened.delete(prediction_id)
    assert reopened.total_bytes() == 0


def test_duplicate_id_fails_and_leaves_the_store_usable(open_any_store: OpenStore) -> None:
    """A failed put must roll back its transaction, or every later put would fail."""
    store = open_any_store(ROOMY)
    put_numbered(store, 1)
    with pytest.raises(DuplicateResult):
        put_numbered(store, 1)
    second = put_numbered(store, 2)
    assert store.get_result(second) is not None
    assert store.count() == 2


def test_concurrent_puts_all_land(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
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
        thread.join(timeout=60)
    assert errors == []
    assert store.count() == threads_count * per_thread
    for number in range(threads_count * per_thread):
        stored = store.get(f"p{number:04d}")
        assert stored is not None
        assert np.array_equal(stored.class_maps, make_maps(number))


def test_concurrent_writers_on_two_stores_keep_one_bound(open_any_store: OpenStore) -> None:
    """Two replicas filling one database evict by one shared total: it never passes the bound."""
    size = entry_size(open_any_store)
    limits = StoreLimits(5 * size + size // 2)
    stores = [open_any_store(limits), open_any_store(limits)]
    if stores[0].kind == "sqlite":
        pytest.skip("one process owns a SQLite file and keeps its total in memory; replicas need a shared store")
    errors: list[BaseException] = []

    def worker(store: PredictionStore, offset: int) -> None:
        try:
            for number in range(offset, offset + 20):
                put_numbered(store, number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(store, 100 * n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert stores[0].total_bytes() == stores[1].total_bytes() <= limits.max_bytes
    assert stores[0].count() == 5


def test_delete_frees_its_bytes_and_only_its_row(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
    kept, gone = put_numbered(store, 1), put_numbered(store, 2)
    one_entry = store.total_bytes() // 2
    assert store.delete(gone)
    assert not store.delete(gone)
    assert store.get(gone) is None and not store.exists(gone)
    assert store.get(kept) is not None
    assert store.total_bytes() == one_entry
    assert store.count() == 1


def test_expired_results_are_unreadable_then_swept(open_any_store: OpenStore) -> None:
    store = open_any_store(StoreLimits(ROOMY.max_bytes, retention_s=60))
    now = time.time()
    store.put("old", make_result("old"), b"old photo", make_maps(1), created=now - 61)
    store.put("new", make_result("new"), b"new photo", make_maps(2), created=now)
    assert store.get_result("old") is None and store.get("old") is None and not store.exists("old")
    assert not store.delete("old")  # already gone for readers: not the client's to delete
    assert store.expires_at(now) == now + 60
    size_of_new = store.total_bytes() // 2
    assert store.sweep() == ["old"]
    assert store.sweep() == []
    assert store.count() == 1
    assert store.total_bytes() == size_of_new
    assert store.get_result("new") == make_result("new")


def test_without_retention_nothing_expires_or_is_swept(open_any_store: OpenStore) -> None:
    store = open_any_store(ROOMY)
    store.put("ancient", make_result("ancient"), b"photo", make_maps(1), created=0.0)
    assert store.expires_at(0.0) is None
    assert store.sweep() == []
    assert store.get_result("ancient") == make_result("ancient")


def test_put_many_stores_a_group_in_one_transaction_and_spares_it_from_eviction(open_any_store: OpenStore) -> None:
    """A group commit: all of the group or none of it, and eviction takes older rows, never the group's own."""
    store = open_any_store(StoreLimits(12_000))
    old = [put_numbered(store, n) for n in range(6)]
    group = [NewResult(f"g{n}", make_result(f"g{n}"), b"g" * PHOTO_BYTES, make_maps(n), time.time()) for n in range(4)]
    store.put_many(group)
    assert all(store.get(new.prediction_id) is not None for new in group)
    assert [store.get(prediction_id) is not None for prediction_id in old][:2] == [False, False]
    assert store.total_bytes() <= 12_000
    with pytest.raises(DuplicateResult):  # g0 again: the whole group is refused, h0 included
        store.put_many([NewResult("h0", make_result("h0"), b"h", make_maps(0), time.time()), group[0]])
    assert store.get("h0") is None
    assert store.get(group[0].prediction_id) is not None


def test_check_passes_while_the_store_answers(open_any_store: OpenStore) -> None:
    open_any_store(ROOMY).check()


def test_readiness_writes_leave_nothing_behind(open_any_store: OpenStore) -> None:
    """``check`` writes for real (``_probe_write``): no result, byte or row of it is seen or counted after."""
    store = open_any_store(ROOMY)
    store.write_probe_interval_s = 0.0
    kept = put_numbered(store, 1)
    before = (store.count(), store.total_bytes())
    for _ in range(3):
        store.check()
    assert (store.count(), store.total_bytes()) == before
    assert store.get_result(kept) == make_result(kept)
