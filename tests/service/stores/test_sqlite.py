"""The SQLite store's own promises: its URL, its versioned schema, and size queries that never read photos."""

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from camserve.service.blobs.s3 import S3Blobs
from camserve.service.stores import StoreLimits, StoreUnavailable, open_store
from camserve.service.stores.sqlite import EVICTION_ORDER, SIZE_SUM, SqliteStore
from tests.support.stores import ROOMY, make_maps, make_result, put_numbered


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "store.sqlite3", ROOMY)


def test_urls_name_relative_and_absolute_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///nested/relative.sqlite3", ROOMY).close()
    open_store(f"sqlite:///{tmp_path}/absolute.sqlite3", ROOMY).close()
    assert (tmp_path / "nested" / "relative.sqlite3").is_file()
    assert (tmp_path / "absolute.sqlite3").is_file()
    with pytest.raises(ValueError, match="names no file"):
        open_store("sqlite://", ROOMY)


def test_photos_in_a_bucket_need_a_shared_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CAMSERVE_BLOB_URL needs a shared store"):
        open_store(f"sqlite:///{tmp_path}/s.sqlite3", ROOMY, "s3://bucket/photos")
    assert S3Blobs.kind == "s3"


@pytest.mark.parametrize(("query", "parameters"), [(SIZE_SUM, ()), (EVICTION_ORDER, (1,))])
def test_size_queries_read_only_the_size_index(store: SqliteStore, query: str, parameters: tuple[int, ...]) -> None:
    """Sizes are stored after the blobs, so a table scan for them would read every photo on every put."""
    put_numbered(store, 1)
    plan = " ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}", parameters))
    assert "USING COVERING INDEX predictions_seq_size" in plan, plan


def test_the_in_memory_total_matches_the_rows(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", StoreLimits(20_000))
    for number in range(12):
        put_numbered(store, number, photo_bytes=1000 * (1 + number % 3))
        assert store.total_bytes() == store._db.execute(SIZE_SUM).fetchone()[0]


def test_the_schema_is_versioned_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    SqliteStore(path, ROOMY).close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="schema version 99"):
        SqliteStore(path, ROOMY)


def test_an_unversioned_store_gains_the_size_index(tmp_path: Path) -> None:
    """Files written before the index existed (and before versioning) get it when opened, rows intact."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path, ROOMY)
    put_numbered(store, 1)
    store._db.execute("DROP INDEX predictions_seq_size")
    store._db.execute("PRAGMA user_version = 0")
    store.close()
    reopened = SqliteStore(path, ROOMY)
    indexes = {row[1] for row in reopened._db.execute("PRAGMA index_list(predictions)")}
    assert "predictions_seq_size" in indexes
    assert reopened.get_result("p0001") is not None


def test_a_store_from_before_retention_gets_creation_times_from_its_results(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE predictions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
            "result TEXT NOT NULL, photo BLOB NOT NULL, class_maps BLOB NOT NULL, size INTEGER NOT NULL)"
        )
        for prediction_id, created_at in (("week-old", "2026-01-01T00:00:00.000+00:00"), ("fresh", None)):
            stamp = created_at or datetime.now(UTC).isoformat(timespec="milliseconds")
            result = make_result(prediction_id).model_copy(update={"created_at": stamp}).model_dump_json()
            db.execute(
                "INSERT INTO predictions (id, result, photo, class_maps, size) VALUES (?, ?, x'00', x'00', 3)",
                (prediction_id, result),
            )
        db.commit()
    store = SqliteStore(path, StoreLimits(ROOMY.max_bytes, retention_s=3600))
    assert store.get_result("week-old") is None
    assert store.get_result("fresh") is not None
    assert store.sweep() == ["week-old"]


def test_a_failing_disk_is_unavailable_not_an_internal_error(store: SqliteStore) -> None:
    """SQLite's operational errors (locked, full, I/O) may pass: the service answers them 503, retry later."""
    store.put("a", make_result("a"), b"photo", make_maps(1))
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreUnavailable, match="SQLite"):
        store.put("b", make_result("b"), b"photo", make_maps(2))
