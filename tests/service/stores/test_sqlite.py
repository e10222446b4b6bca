"""The SQLite store's own promises: its URL, its versioned schema, size queries that never read photos, a damaged
file refused in one line, and readiness that knows when the file takes no writes."""

import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from camserve.service.blobs.s3 import S3Blobs
from camserve.service.stores import StoreLimits, StoreUnavailable, StoreUnusable, StoreUnwritable, open_store
from camserve.service.stores.sqlite import EVICTION_ORDER, SIZE_SUM, SqliteStore
from tests.support.stores import ROOMY, make_maps, make_result, put_numbered, truncated_sqlite_store


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


def test_readiness_writes_at_most_once_per_interval_and_not_after_a_write(tmp_path: Path) -> None:
    """The probe is a real write (one row in, one out, nothing left), never one per readiness call."""
    store = SqliteStore(tmp_path / "store.sqlite3", ROOMY)
    store.write_probe_interval_s = 60.0
    changes = store._db.total_changes
    store.check()
    assert store._db.total_changes == changes + 2
    store.check()
    assert store._db.total_changes == changes + 2
    assert store._db.execute("SELECT count(*) FROM write_probe").fetchone() == (0,)
    assert (store.count(), store.total_bytes()) == (0, 0)

    busy = SqliteStore(tmp_path / "busy.sqlite3", ROOMY)
    busy.write_probe_interval_s = 60.0
    put_numbered(busy, 1)  # a write that succeeded says as much as a probe would
    changes = busy._db.total_changes
    busy.check()
    assert busy._db.total_changes == changes


def test_a_full_file_stays_unwritable_until_a_write_as_large_as_the_failed_one_fits(store: SqliteStore) -> None:
    """SQLITE_FULL, the code SQLite gives for ENOSPC, from a file held at its page count: a small write may
    still fit where the photo did not, so only a probe of the failed write's size makes it writable again."""
    store.write_probe_interval_s = 0.0
    put_numbered(store, 1)
    store.delete("p0001")  # leaves free pages: a small write fits, a photo does not
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreUnavailable, match="database or disk is full"):
        put_numbered(store, 2, photo_bytes=200_000)
    put_numbered(store, 3, photo_bytes=10)
    with pytest.raises(
        StoreUnwritable, match=r"^the store cannot write \(since .*\): SQLite: database or disk is full"
    ):
        store.check()
    store._db.execute(f"PRAGMA max_page_count = {2**30}")
    store.check()
    put_numbered(store, 2, photo_bytes=200_000)


# Run in a process of its own: the file size limit holds for the whole process.
_REFUSED_BY_THE_FILE_SYSTEM = """
import os, resource, signal, sys
from pathlib import Path
from camserve.service.stores import StoreUnavailable, StoreUnwritable
from camserve.service.stores.sqlite import SqliteStore
from tests.support.stores import ROOMY, put_numbered

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
path = Path(sys.argv[1])
store = SqliteStore(path, ROOMY)
store.write_probe_interval_s = 0.0
put_numbered(store, 1)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
largest = max(os.path.getsize(name) for name in (path, f"{path}-wal"))
resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 8192, hard))
try:
    put_numbered(store, 2, photo_bytes=1_000_000)
except StoreUnavailable as error:
    print("put:", error)
try:
    store.check()
except StoreUnwritable as error:
    print("check:", error)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
store.check()
put_numbered(store, 2, photo_bytes=1_000_000)
print("count:", store.count())
"""


def test_a_commit_the_file_system_refuses_leaves_the_store_usable_once_it_takes_writes_again(tmp_path: Path) -> None:
    """A real failed write() at COMMIT, where a full disk fails a write-ahead log: the file system refuses to
    grow the log past a size limit. SQLite rolls the transaction back itself; the store must neither hide the
    error behind a failed ROLLBACK nor stay stuck in a transaction once the disk takes writes again."""
    done = subprocess.run(
        [sys.executable, "-c", _REFUSED_BY_THE_FILE_SYSTEM, str(tmp_path / "store.sqlite3")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "put: SQLite: disk I/O error",
        done.stdout.splitlines()[1],
        "count: 2",
    ]
    assert done.stdout.splitlines()[1].startswith("check: the store cannot write (since ")
    assert done.stdout.splitlines()[1].endswith("): SQLite: disk I/O error")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_file_is_refused_in_one_line_that_says_what_to_do(tmp_path: Path, damage: str) -> None:
    if damage == "garbage":
        path = tmp_path / "garbage.sqlite3"
        path.write_bytes(b"these are not the pages you are looking for\n" * 100)
    else:
        path = truncated_sqlite_store(tmp_path)
    with pytest.raises(StoreUnusable) as refused:
        SqliteStore(path, ROOMY)
    message = str(refused.value)
    assert "\n" not in message
    assert f"the result store {path} is damaged or not a SQLite database (" in message
    assert "move it (with any -wal and -shm files beside it) aside and restart" in message
    assert "restore it from a backup" in message
