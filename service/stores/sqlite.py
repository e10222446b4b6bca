"""The embedded store: one SQLite file, the default (``sqlite:///var/camserve.sqlite3``).

SQLite is embedded (nothing to install or run beside the service), and with WAL plus
``synchronous=FULL`` a write that returned has reached the disk, so a kill -9 cannot lose it.
One service process owns the file: it keeps the running total of stored bytes in memory, so a put costs
the same in an empty store and a full one. Several replicas need a shared store (``postgresql.py``).

Deleting is for real: ``secure_delete`` overwrites freed pages with zeros, and every delete ends with a
checkpoint that moves the zeros into the database file and empties the write-ahead log, so a deleted photo's
bytes are gone from both files, not just unlinked. A delete is one transaction: a kill -9 leaves the result
whole or gone, never half.

A file that is not a sound SQLite database (damaged, truncated, something else) is refused when the store
opens, in one line that names it and says what to do (``StoreUnusable``).
"""

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from camserve.service.blobs import BlobStore
from camserve.service.stores.base import (
    DuplicateResult,
    NewResult,
    PredictionStore,
    StoredPrediction,
    StoreLimits,
    StoreUnavailable,
    StoreUnusable,
    array_from_bytes,
    array_to_bytes,
    result_from_text,
    result_to_text,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    result TEXT NOT NULL,
    photo BLOB NOT NULL,
    class_maps BLOB NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL
)
"""
# Sizes sit after the blobs in each row, so reading them from the table walks every photo's overflow pages
# (put() once took 124 ms at 256 MB that way). This index answers the opening sum and the eviction scan alone.
_SIZE_INDEX = "CREATE INDEX IF NOT EXISTS predictions_seq_size ON predictions (seq, size)"
SIZE_SUM = "SELECT COALESCE(SUM(size), 0) FROM predictions"
EVICTION_ORDER = "SELECT seq, size FROM predictions WHERE seq < ? ORDER BY seq"
# Stores made before results had a creation time: take it from the result's own created_at.
_ADD_CREATED = "ALTER TABLE predictions ADD COLUMN created REAL NOT NULL DEFAULT 0"
_FILL_CREATED = (
    "UPDATE predictions SET created = (julianday(json_extract(result, '$.created_at')) - 2440587.5) * 86400.0 "
    "WHERE created = 0"
)
_CREATED_INDEX = "CREATE INDEX IF NOT EXISTS predictions_created ON predictions (created)"
# The one row a client may still see or delete: its id, not yet expired (parameters: id, oldest alive time).
_ALIVE = "id = ? AND created >= ?"


def open_store(url: str, limits: StoreLimits, blobs: BlobStore | None) -> "SqliteStore":
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path``, as SQLAlchemy spells them."""
    if blobs is not None:
        raise ValueError("the SQLite store keeps photos in its own file; CAMSERVE_BLOB_URL needs a shared store")
    path = unquote(urlsplit(url).path)[1:]
    if not path:
        raise ValueError(f"{url!r} names no file; write sqlite:///relative/path or sqlite:////absolute/path")
    return SqliteStore(Path(path), limits)


def _create_predictions(db: sqlite3.Connection) -> None:
    """Version 1. Files from before versioning (user_version 0) may hold the table already, perhaps without
    its creation times: every step is safe to repeat."""
    db.execute(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(predictions)")}
    if "created" not in columns:
        db.execute(_ADD_CREATED)
        db.execute(_FILL_CREATED)
    db.execute(_SIZE_INDEX)
    db.execute(_CREATED_INDEX)


# Migration n brings the file from user_version n - 1 to n; append, never edit.
_MIGRATIONS = (_create_predictions,)

# Where readiness writes to learn that the file takes writes (``_probe_write``). Not a migration: it holds
# nothing between probes, and a camserve from before it opens the file all the same.
_WRITE_PROBE_TABLE = "CREATE TABLE IF NOT EXISTS write_probe (payload BLOB NOT NULL)"


@contextmanager
def _translated_errors() -> Iterator[None]:
    """A busy, full or failing disk may pass: 503 and retry. A duplicate id is the caller's mistake."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise DuplicateResult(str(error)) from error
    except sqlite3.OperationalError as error:
        raise StoreUnavailable(f"SQLite: {error}") from error


def _unusable(path: Path, error: Exception) -> StoreUnusable:
    """What to do about a store file that cannot be opened, in one line."""
    where = path.absolute()
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
        return StoreUnusable(
            f"the result store {where} is damaged or not a SQLite database ({error}): move it (with any -wal "
            "and -shm files beside it) aside and restart to begin with an empty store, or restore it from a backup"
        )
    return StoreUnusable(
        f"the result store {where} cannot be opened ({error}): check that its directory exists and is writable, "
        "that the disk has space, and that no other camserve uses the file"
    )


class SqliteStore(PredictionStore):
    kind = "sqlite"

    def __init__(self, path: Path, limits: StoreLimits) -> None:
        super().__init__(limits)
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise _unusable(path, error) from error
        try:
            self._open(path)
        except BaseException as error:
            self._db.close()
            if isinstance(error, sqlite3.Error):
                raise _unusable(path, error) from error
            raise

    def _open(self, path: Path) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        with self._transaction():
            version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                raise RuntimeError(f"{path} has schema version {version}; this camserve knows {len(_MIGRATIONS)}")
            for migrate in _MIGRATIONS[version:]:
                migrate(self._db)
            self._db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
            self._db.execute(_WRITE_PROBE_TABLE)
        self._total_bytes: int = self._db.execute(SIZE_SUM).fetchone()[0]

    def stage(self, prediction_id: str, photo: bytes) -> None:
        """Nothing to send ahead: a photo goes into the file with its row, in ``put_many``'s one flush."""

    def unstage(self, prediction_id: str) -> None:
        """Nothing was staged."""

    def put_many(self, results: Sequence[NewResult]) -> None:
        rows = []
        for new in results:
            result_text = result_to_text(new.result)
            maps = array_to_bytes(new.class_maps)
            size = len(result_text) + len(new.photo) + len(maps)
            rows.append((new.prediction_id, result_text, new.photo, maps, size, new.created))
        added = sum(row[4] for row in rows)
        with self._writing(added), self._lock, _translated_errors():
            with self._transaction():
                first_seq = None
                for row in rows:
                    inserted = self._db.execute(
                        "INSERT INTO predictions (id, result, photo, class_maps, size, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    first_seq = first_seq or inserted.lastrowid
                freed = self._evict_locked(self._total_bytes + added, newest_seq=first_seq)
            self._total_bytes += added - freed

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, under ``_lock``: committed whole, or rolled back whole on any error. SQLite rolls
        back by itself on some errors (a full disk, an I/O error), at COMMIT too, and keeps the transaction open on
        others: rolled back here only while open, so that the error that says why is the one raised."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _alive(self, columns: str, prediction_id: str) -> tuple[Any, ...] | None:
        """``columns`` of the result, unless it is unknown, deleted, evicted or expired."""
        with self._lock, _translated_errors():
            row: tuple[Any, ...] | None = self._db.execute(
                f"SELECT {columns} FROM predictions WHERE {_ALIVE}",
                (prediction_id, self.oldest_alive()),
            ).fetchone()
        return row

    def _evict_locked(self, total: int, newest_seq: int | None) -> int:
        """Delete the oldest rows until ``total`` fits, returning the bytes freed; rows from ``newest_seq`` on,
        just stored, are never victims."""
        excess = total - self.max_bytes
        freed = 0
        if excess <= 0:
            return freed
        victims = []
        for seq, size in self._db.execute(EVICTION_ORDER, (newest_seq,)):
            victims.append((seq,))
            freed += size
            if freed >= excess:
                break
        self._db.executemany("DELETE FROM predictions WHERE seq = ?", victims)
        return freed

    def get(self, prediction_id: str) -> StoredPrediction | None:
        row = self._alive("result, photo, class_maps", prediction_id)
        if row is None:
            return None
        return StoredPrediction(result_from_text(row[0]), bytes(row[1]), array_from_bytes(row[2]))

    def delete(self, prediction_id: str) -> bool:
        return bool(self._delete(_ALIVE, (prediction_id, self.oldest_alive())))

    def sweep(self) -> list[str]:
        if self.retention_s is None:
            return []
        return self._delete("created < ?", (self.oldest_alive(),))

    def _delete(self, where: str, parameters: tuple[Any, ...]) -> list[str]:
        with self._writing(0), self._lock, _translated_errors():
            with self._transaction():
                rows = self._db.execute(f"SELECT id, size FROM predictions WHERE {where}", parameters).fetchall()
                self._db.execute(f"DELETE FROM predictions WHERE {where}", parameters)
            self._total_bytes -= sum(size for _, size in rows)
            if rows:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [prediction_id for prediction_id, _ in rows]

    def total_bytes(self) -> int:
        with self._lock:
            return self._total_bytes

    def count(self) -> int:
        with self._lock, _translated_errors():
            count: int = self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            return count

    def _check_reads(self) -> None:
        self._alive("1", "")

    def _probe_write(self, nbytes: int) -> None:
        """A row of ``nbytes`` zeros committed, then deleted and committed: with ``synchronous=FULL`` each commit
        reaches the disk, so a full disk (or a file at its ``max_page_count``), a read-only file or file system
        fails here as a result's put would; nothing stays behind."""
        with self._lock, _translated_errors():
            with self._transaction():
                self._db.execute("INSERT INTO write_probe (payload) VALUES (zeroblob(?))", (nbytes,))
            with self._transaction():
                self._db.execute("DELETE FROM write_probe")

    def close(self) -> None:
        with self._lock:
            self._db.close()
