"""Results that survive restarts: one SQLite file, bounded in size, oldest evicted first, deletable, and
optionally kept for a limited time.

SQLite is embedded (nothing to install or run beside the service), and with WAL plus
``synchronous=FULL`` a write that returned has reached the disk, so a kill -9 cannot lose it.
One service process owns the file: it keeps the running total of stored bytes in memory, so a put costs
the same in an empty store and a full one.

Deleting is for real: ``secure_delete`` overwrites freed pages with zeros, and every delete ends with a
checkpoint that moves the zeros into the database file and empties the write-ahead log, so a deleted photo's
bytes are gone from both files, not just unlinked. A delete is one transaction: a kill -9 leaves the result
whole or gone, never half.
"""

import io
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class NewResult:
    """One result to store: its id, the result JSON, the photo as uploaded, the class maps, its Unix time."""

    prediction_id: str
    result: dict[str, Any]
    photo: bytes
    class_maps: np.ndarray
    created: float

    @property
    def approximate_bytes(self) -> int:
        """What it adds to the store, near enough to bound a group (the maps and JSON are small)."""
        return len(self.photo) + self.class_maps.nbytes + 4096


@dataclass(frozen=True)
class StoredPrediction:
    result: dict[str, Any]
    photo: bytes
    class_maps: np.ndarray


def _array_to_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _array_from_bytes(data: bytes) -> np.ndarray:
    array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    return array


class PredictionStore:
    def __init__(self, path: Path, max_bytes: int, retention_s: float | None = None) -> None:
        """``retention_s``: results older than this are gone for readers at once and deleted by ``sweep``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.retention_s = retention_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(predictions)")}
        if "created" not in columns:
            self._db.execute(_ADD_CREATED)
            self._db.execute(_FILL_CREATED)
        self._db.execute(_SIZE_INDEX)
        self._db.execute(_CREATED_INDEX)
        self._total_bytes: int = self._db.execute(SIZE_SUM).fetchone()[0]

    def expires_at(self, created: float) -> float | None:
        """When a result created at ``created`` (Unix time) stops being served, or None to keep it."""
        return None if self.retention_s is None else created + self.retention_s

    def _oldest_alive(self) -> float:
        return float("-inf") if self.retention_s is None else time.time() - self.retention_s

    def put(
        self,
        prediction_id: str,
        result: dict[str, Any],
        photo: bytes,
        class_maps: np.ndarray,
        created: float | None = None,
    ) -> None:
        """Store one result, then evict the oldest others until the total fits the bound."""
        created = time.time() if created is None else created
        self.put_many([NewResult(prediction_id, result, photo, class_maps, created)])

    def put_many(self, results: Sequence[NewResult]) -> None:
        """Store several results in one transaction, so one flush to disk makes them all durable (a group
        commit), then evict the oldest others until the total fits; none of these is a victim. All or none:
        an error stores none of them."""
        rows = []
        for new in results:
            result_text = json.dumps(new.result)
            maps = _array_to_bytes(new.class_maps.astype(np.float32))
            size = len(result_text) + len(new.photo) + len(maps)
            rows.append((new.prediction_id, result_text, new.photo, maps, size, new.created))
        added = sum(row[4] for row in rows)
        with self._lock:
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
        """One write transaction, under ``_lock``: committed whole, or rolled back whole on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _alive(self, columns: str, prediction_id: str) -> tuple[Any, ...] | None:
        """``columns`` of the result, unless it is unknown, deleted, evicted or expired."""
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(
                f"SELECT {columns} FROM predictions WHERE {_ALIVE}",
                (prediction_id, self._oldest_alive()),
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

    def get_result(self, prediction_id: str) -> dict[str, Any] | None:
        """The result's JSON, or None if it is unknown, deleted, evicted or expired."""
        row = self._alive("result", prediction_id)
        return None if row is None else json.loads(row[0])

    def get_maps(self, prediction_id: str) -> tuple[dict[str, Any], np.ndarray] | None:
        """The result's JSON and its class maps, without the photo."""
        row = self._alive("result, class_maps", prediction_id)
        return None if row is None else (json.loads(row[0]), _array_from_bytes(row[1]))

    def get(self, prediction_id: str) -> StoredPrediction | None:
        row = self._alive("result, photo, class_maps", prediction_id)
        if row is None:
            return None
        return StoredPrediction(json.loads(row[0]), bytes(row[1]), _array_from_bytes(row[2]))

    def delete(self, prediction_id: str) -> bool:
        """Delete one result, photo and maps included, for good; False if there was none (expired ones too)."""
        return bool(self._delete(_ALIVE, (prediction_id, self._oldest_alive())))

    def sweep(self) -> list[str]:
        """Delete every expired result; the ids that went. Readers stopped seeing them when they expired."""
        if self.retention_s is None:
            return []
        return self._delete("created < ?", (self._oldest_alive(),))

    def _delete(self, where: str, parameters: tuple[Any, ...]) -> list[str]:
        with self._lock:
            with self._transaction():
                rows = self._db.execute(f"SELECT id, size FROM predictions WHERE {where}", parameters).fetchall()
                self._db.execute(f"DELETE FROM predictions WHERE {where}", parameters)
            self._total_bytes -= sum(size for _, size in rows)
            if rows:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [prediction_id for prediction_id, _ in rows]

    def exists(self, prediction_id: str) -> bool:
        """Whether the result can still be read: what a cached picture of it is checked against."""
        return self._alive("1", prediction_id) is not None

    def total_bytes(self) -> int:
        with self._lock:
            return self._total_bytes

    def count(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
            return count

    def close(self) -> None:
        with self._lock:
            self._db.close()
