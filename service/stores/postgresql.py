"""Results in PostgreSQL, shared by every replica (``CAMSERVE_STORE_URL=postgresql://user:pw@host:5432/db``).

Photo bytes live in the same row, or, with ``CAMSERVE_BLOB_URL``, in a bucket under a key of their own. Every
write commits with ``synchronous_commit=on`` before it returns, so a 201 means the result is durable. On
PostgreSQL a deleted row is unreachable at once; the space its bytes took is reused after autovacuum.

This module is the store, and the one to read first; its parts, one job each, sit beside it:
``_postgresql_connections.py`` (connections, kept for reuse), ``_postgresql_schema.py`` (tables and
migrations), ``_postgresql_eviction.py`` (the size bound every replica shares) and ``_postgresql_photos.py``
(photos in a bucket: staging, uploads, orphans and their sweep).
"""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from camserve.service.blobs import BlobStore
from camserve.service.stores._postgresql_connections import Connections
from camserve.service.stores._postgresql_eviction import delete_counted, evict, locked_total
from camserve.service.stores._postgresql_photos import BucketPhotos, new_key
from camserve.service.stores._postgresql_schema import WRITE_PROBE_INSERT, Schema
from camserve.service.stores.base import (
    NewResult,
    PredictionStore,
    StoredPrediction,
    StoreLimits,
    StoreUnavailable,
    array_from_bytes,
    array_to_bytes,
    result_from_text,
    result_to_text,
)

__all__ = ["PostgresStore", "open_store"]

_ALIVE = "id = %s AND created >= %s"
_INSERT = (
    "INSERT INTO predictions (id, result, photo, photo_key, class_maps, size, created) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq"
)


def open_store(url: str, limits: StoreLimits, blobs: BlobStore | None) -> "PostgresStore":
    return PostgresStore(url, limits, blobs)


class PostgresStore(PredictionStore):
    def __init__(self, url: str, limits: StoreLimits, blobs: BlobStore | None = None) -> None:
        super().__init__(limits)
        self._connections = Connections(url)
        self._schema = Schema(self._connections)
        self._bucket = None if blobs is None else BucketPhotos(blobs, self._connection)
        self.kind = "postgresql" if self._bucket is None else f"postgresql+{self._bucket.kind}"
        self.stages_photos = self._bucket is not None
        # The database may come up after the service: readiness stays 503 and every call tries again.
        with suppress(StoreUnavailable):
            self._schema.ensure()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._schema.ensure()
        with self._connections.connection() as connection:
            yield connection

    def stage(self, prediction_id: str, photo: bytes) -> None:
        if self._bucket is not None:
            with self._writing(len(photo)):
                self._bucket.stage(prediction_id, photo)

    def unstage(self, prediction_id: str) -> None:
        if self._bucket is not None:
            self._bucket.unstage(prediction_id)

    def put_many(self, results: Sequence[NewResult]) -> None:
        with self._writing(sum(new.approximate_bytes for new in results)):
            self._put_many(results)

    def _put_many(self, results: Sequence[NewResult]) -> None:
        bucket = self._bucket
        staged = {} if bucket is None else bucket.claim_staged(new.prediction_id for new in results)
        rows = [self._row(new, staged.get(new.prediction_id)) for new in results]
        uploads = {
            row[3]: new.photo
            for row, new in zip(rows, results, strict=True)
            if row[3] is not None and new.prediction_id not in staged
        }
        # Photos not staged travel to the bucket while the rows are inserted; the transaction commits only once
        # every upload has succeeded, so a result is never committed without its photo.
        uploading = [] if bucket is None else bucket.upload(uploads)
        try:
            with self._connection() as connection, connection.transaction():
                first_seq = None
                for row in rows:
                    inserted = connection.execute(_INSERT, row).fetchone()
                    first_seq = first_seq or (inserted[0] if inserted else None)
                BucketPhotos.adopt(connection, list(staged.values()))
                for upload in uploading:
                    upload.result()
                total = locked_total(connection) + sum(row[5] for row in rows)
                victims = evict(connection, total, self.max_bytes, first_seq)
        except BaseException:
            if bucket is not None:
                bucket.abandon(uploading, [*uploads, *staged.values()])
            raise
        self._drop_photos(victims)

    def _row(self, new: NewResult, staged_key: str | None) -> tuple[Any, ...]:
        """The INSERT parameters for ``new``: its photo in the row, or the key it has (or will have) in the bucket."""
        result_text = result_to_text(new.result)
        maps = array_to_bytes(new.class_maps)
        size = len(result_text) + len(new.photo) + len(maps)
        if self._bucket is None:
            return (new.prediction_id, result_text, new.photo, None, maps, size, new.created)
        key = staged_key or new_key(new.prediction_id)
        return (new.prediction_id, result_text, None, key, maps, size, new.created)

    def _drop_photos(self, keys: list[str]) -> None:
        """Delete from the bucket the photos of rows deleted by a committed transaction."""
        if self._bucket is not None:
            self._bucket.drop(keys)

    def _alive(self, columns: str, prediction_id: str) -> tuple[Any, ...] | None:
        with self._connection() as connection:
            row: tuple[Any, ...] | None = connection.execute(
                f"SELECT {columns} FROM predictions WHERE {_ALIVE}", (prediction_id, self.oldest_alive())
            ).fetchone()
        return row

    def get(self, prediction_id: str) -> StoredPrediction | None:
        row = self._alive("result, photo, photo_key, class_maps", prediction_id)
        if row is None:
            return None
        result, photo, key, maps = row
        if key is not None:
            assert self._bucket is not None, "rows with photos in a bucket need CAMSERVE_BLOB_URL"
            photo = self._bucket.get(key)
            if photo is None:  # deleted between the two reads
                return None
        return StoredPrediction(result_from_text(result), bytes(photo), array_from_bytes(maps))

    def delete(self, prediction_id: str) -> bool:
        return bool(self._delete(_ALIVE, (prediction_id, self.oldest_alive())))

    def sweep(self) -> list[str]:
        gone = [] if self.retention_s is None else self._delete("created < %s", (self.oldest_alive(),))
        if self._bucket is not None:
            self._bucket.sweep()
        return gone

    def _delete(self, where: str, parameters: tuple[Any, ...]) -> list[str]:
        with self._writing(0), self._connection() as connection:
            rows = delete_counted(connection, where, parameters)
        self._drop_photos([key for _, _, key in rows if key is not None])
        return [prediction_id for prediction_id, _, _ in rows]

    def total_bytes(self) -> int:
        with self._connection() as connection:
            row = connection.execute("SELECT total_bytes FROM store_usage").fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        with self._connection() as connection:
            row = connection.execute("SELECT count(*) FROM predictions").fetchone()
        return int(row[0]) if row else 0

    def _check_reads(self) -> None:
        with self._connection() as connection:
            connection.execute("SELECT 1")
        if self._bucket is not None:
            self._bucket.check()

    def _probe_write(self, nbytes: int) -> None:
        """A row inserted and deleted in one transaction, committed durably (a read-only database or a standby
        refuses the insert, a full disk the extension it needs); its bytes random, so TOAST cannot compress them
        away. With a bucket, the bytes go there instead (``WRITE_PROBE_KEY``) and are deleted again."""
        payload = os.urandom(nbytes if self._bucket is None else 0)
        with self._connection() as connection, connection.transaction():
            row = connection.execute(WRITE_PROBE_INSERT, (payload,)).fetchone()
            connection.execute("DELETE FROM write_probe WHERE id = %s", (row[0] if row else None,))
        if self._bucket is not None:
            self._bucket.probe_write(nbytes)

    def close(self) -> None:
        if self._bucket is not None:
            self._bucket.close()
        self._connections.close()
