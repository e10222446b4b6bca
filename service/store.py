"""Results that survive restarts: one SQLite file, bounded in size, oldest evicted first.

SQLite is embedded (nothing to install or run beside the service), and with WAL plus
``synchronous=FULL`` a write that returned has reached the disk, so a kill -9 cannot lose it.
"""

import io
import json
import sqlite3
import threading
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
    size INTEGER NOT NULL
)
"""


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
    return np.load(io.BytesIO(data), allow_pickle=False)


class PredictionStore:
    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, prediction_id: str, result: dict[str, Any], photo: bytes, class_maps: np.ndarray) -> None:
        """Store one result, then evict the oldest others until the total fits the bound."""
        result_text = json.dumps(result)
        maps = _array_to_bytes(class_maps.astype(np.float32))
        size = len(result_text) + len(photo) + len(maps)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO predictions (id, result, photo, class_maps, size) VALUES (?, ?, ?, ?, ?)",
                    (prediction_id, result_text, photo, maps, size),
                )
                self._evict_locked(keep=prediction_id)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _evict_locked(self, keep: str) -> None:
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM predictions").fetchone()
        if total <= self.max_bytes:
            return
        excess = total - self.max_bytes
        freed = 0
        victims = []
        for seq, size in self._db.execute("SELECT seq, size FROM predictions WHERE id != ? ORDER BY seq", (keep,)):
            victims.append((seq,))
            freed += size
            if freed >= excess:
                break
        self._db.executemany("DELETE FROM predictions WHERE seq = ?", victims)

    def get_result(self, prediction_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM predictions WHERE id = ?", (prediction_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def get(self, prediction_id: str) -> StoredPrediction | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result, photo, class_maps FROM predictions WHERE id = ?", (prediction_id,)
            ).fetchone()
        if row is None:
            return None
        return StoredPrediction(json.loads(row[0]), bytes(row[1]), _array_from_bytes(row[2]))

    def total_bytes(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(SUM(size), 0) FROM predictions").fetchone()[0]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
