"""Results in PostgreSQL, shared by every replica (``CAMSERVE_STORE_URL=postgresql://user:pw@host:5432/db``).

Photo bytes live in the same row, or, with ``CAMSERVE_BLOB_URL``, in a bucket under the result's id. Every
write commits with ``synchronous_commit=on`` before it returns, so a 201 means the result is durable.

Replicas share the size bound, so the running total is a row of its own (``store_usage``), and every writing
transaction locks that row before it touches any row another transaction can see: writers from every replica
take turns (one group commit each), eviction always sees the true total, and no two writers can deadlock.
Rows are evicted oldest first by their sequence number.

Bucket objects are deleted after the transaction that deleted their rows commits. Their keys are recorded
in ``orphan_blobs`` in that same transaction, so a bucket that cannot be reached at that moment leaves a
record that ``sweep`` finishes later, never a photo nobody knows about.

A photo travels to the bucket while the model looks at it (``stage``, called by the service as the upload
arrives): its key is first recorded in ``orphan_blobs``, due for deletion ``STAGED_GRACE_S`` later, then
the bytes are sent. The transaction that stores the result deletes that record with the row's insert, so
a stored photo is never swept, and the photo of a request that failed, or of a process killed meanwhile,
is. A photo not staged is uploaded while its row is inserted, and the row commits only once the upload
succeeded; if either fails the upload is deleted at once, best effort.

On PostgreSQL a deleted row is unreachable at once; the space its bytes took is reused after autovacuum.
"""

import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from camserve.service.blobs import BlobStore
from camserve.service.stores.base import (
    DuplicateResult,
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

__all__ = ["MIGRATIONS", "PostgresStore", "open_store"]

# Migration n brings the database from version n - 1 to n; append, never edit. Each replica runs the missing
# ones at start-up, in one transaction under an advisory lock: replicas starting together take turns, and
# the later ones find nothing left to do.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE predictions (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        result text NOT NULL,
        photo bytea,
        photo_key text,
        class_maps bytea NOT NULL,
        size bigint NOT NULL,
        created double precision NOT NULL,
        CHECK ((photo IS NULL) <> (photo_key IS NULL))
    );
    CREATE INDEX predictions_created ON predictions (created);
    CREATE TABLE store_usage (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        total_bytes bigint NOT NULL
    );
    INSERT INTO store_usage (total_bytes) VALUES (0);
    CREATE TABLE orphan_blobs (key text PRIMARY KEY, due double precision NOT NULL);
    """,
)
_MIGRATION_LOCK = 0x63616D7365727665  # "camserve": the advisory lock replicas migrate under
_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS camserve_schema (version integer PRIMARY KEY, applied_at timestamptz DEFAULT now())"
)
_ALIVE = "id = %s AND created >= %s"
_LOCK_USAGE = "SELECT total_bytes FROM store_usage FOR UPDATE"
EVICTION_BATCH = 256
CONNECT_TIMEOUT_S = 2
# Past this, a query is given up and the request answered 503: a hung database must not hang requests.
STATEMENT_TIMEOUT_MS = 10_000
# An idle connection older than this is tested before use: a database restart breaks every idle one.
STALE_AFTER_S = 1.0
MAX_IDLE_CONNECTIONS = 8
# A staged photo whose result was not stored by then is deleted by the sweep: far longer than any request.
STAGED_GRACE_S = 600.0
UPLOAD_THREADS = 4  # photos of one group travel to the bucket side by side


def open_store(url: str, limits: StoreLimits, blobs: BlobStore | None) -> "PostgresStore":
    return PostgresStore(url, limits, blobs)


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UniqueViolation as error:
        raise DuplicateResult(str(error)) from error
    except (psycopg.OperationalError, psycopg.InterfaceError) as error:
        raise StoreUnavailable(f"PostgreSQL: {error}".strip()) from error


class _Connections:
    """Connections opened on demand and kept idle for reuse. No background reconnection: while the database
    is down each caller fails at once (connection refused) and the service answers 503, and the first call
    after it is back connects afresh. (psycopg_pool instead retries with back-off of 1, 2, 4 ... s and makes
    callers wait for it, which slows both the 503s and the recovery.)"""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c synchronous_commit=on -c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )

    def _take(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, idle_since = self._idle.pop()
            if time.monotonic() - idle_since < STALE_AFTER_S:
                return connection
            try:
                connection.execute("SELECT 1")
            except psycopg.Error:
                connection.close()
                continue
            return connection
        return self._connect()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in autocommit mode; writers open ``connection.transaction()`` themselves."""
        with _translated_errors():
            connection = self._take()
            try:
                yield connection
            except BaseException:
                connection.close()  # in an unknown state: never reused
                raise
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS and not connection.closed:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()


class PostgresStore(PredictionStore):
    def __init__(self, url: str, limits: StoreLimits, blobs: BlobStore | None = None) -> None:
        super().__init__(limits)
        self.kind = "postgresql" if blobs is None else f"postgresql+{blobs.kind}"
        self.stages_photos = blobs is not None
        self._blobs = blobs
        self._staged: dict[str, str] = {}  # prediction id -> bucket key, for photos staged and not yet stored
        self._staged_lock = threading.Lock()
        self._connections = _Connections(url)
        self._uploader = futures.ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="camserve-upload")
        self._migrated = False
        self._migration_lock = threading.Lock()
        # The database may come up after the service: readiness stays 503 and every call tries again.
        with suppress(StoreUnavailable):
            self._ensure_schema()

    def _ensure_schema(self) -> None:
        """Run the missing migrations once per process, refusing a database newer than this code."""
        with self._migration_lock:
            if self._migrated:
                return
            with self._connections.connection() as connection, connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                connection.execute(_SCHEMA_TABLE)
                row = connection.execute("SELECT COALESCE(max(version), 0) FROM camserve_schema").fetchone()
                version: int = row[0] if row else 0
                if version > len(MIGRATIONS):
                    known = len(MIGRATIONS)
                    raise RuntimeError(f"the database has schema version {version}; this camserve knows {known}")
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    connection.execute(MIGRATIONS[number - 1].encode())
                    connection.execute("INSERT INTO camserve_schema (version) VALUES (%s)", (number,))
            self._migrated = True

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._ensure_schema()
        with self._connections.connection() as connection:
            yield connection

    def stage(self, prediction_id: str, photo: bytes) -> None:
        if self._blobs is None:
            return
        key = self._new_key(prediction_id)
        with self._connection() as connection:
            connection.execute(
                "INSERT INTO orphan_blobs (key, due) VALUES (%s, %s)", (key, time.time() + STAGED_GRACE_S)
            )
        self._blobs.put(key, photo)
        with self._staged_lock:
            self._staged[prediction_id] = key

    def unstage(self, prediction_id: str) -> None:
        with self._staged_lock:
            key = self._staged.pop(prediction_id, None)
        if key is not None:
            self._drop_blobs([key])

    def _take_staged(self, prediction_id: str) -> str | None:
        with self._staged_lock:
            return self._staged.pop(prediction_id, None)

    def put_many(self, results: Sequence[NewResult]) -> None:
        staged = {new.prediction_id: key for new in results if (key := self._take_staged(new.prediction_id))}
        rows = [self._row(new, staged.get(new.prediction_id)) for new in results]
        uploads = {
            row[3]: new.photo
            for row, new in zip(rows, results, strict=True)
            if row[3] is not None and new.prediction_id not in staged
        }
        # Photos not staged travel to the bucket while the rows are inserted; the transaction commits only once
        # every upload has succeeded, so a result is never committed without its photo.
        uploading = [self._uploader.submit(self._upload, key, photo) for key, photo in uploads.items()]
        try:
            with self._connection() as connection, connection.transaction():
                first_seq = None
                for row in rows:
                    inserted = connection.execute(
                        "INSERT INTO predictions (id, result, photo, photo_key, class_maps, size, created) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                        row,
                    ).fetchone()
                    first_seq = first_seq or (inserted[0] if inserted else None)
                if staged:
                    connection.execute("DELETE FROM orphan_blobs WHERE key = ANY(%s)", (list(staged.values()),))
                for upload in uploading:
                    upload.result()
                total = self._locked_total(connection) + sum(row[5] for row in rows)
                victims = self._evict(connection, total, first_seq)
        except BaseException:
            futures.wait(uploading)
            if self._blobs is not None and (uploads or staged):
                # If the bucket failed too, staged photos stay recorded for the sweep; uploads are forgotten.
                with suppress(StoreUnavailable):
                    self._blobs.delete([*uploads, *staged.values()])
            raise
        self._drop_blobs(victims)

    def _upload(self, key: str, photo: bytes) -> None:
        assert self._blobs is not None
        self._blobs.put(key, photo)

    @staticmethod
    def _new_key(prediction_id: str) -> str:
        """A bucket key of this upload's own: a failed put deletes what it uploaded, and must never hit the
        photo of a row stored under the same id."""
        return f"{prediction_id}.{secrets.token_hex(8)}"

    def _row(self, new: NewResult, staged_key: str | None) -> tuple[Any, ...]:
        """The INSERT parameters for ``new``: its photo in the row, or the key it has (or will have) in the bucket."""
        result_text = result_to_text(new.result)
        maps = array_to_bytes(new.class_maps)
        size = len(result_text) + len(new.photo) + len(maps)
        if self._blobs is None:
            return (new.prediction_id, result_text, new.photo, None, maps, size, new.created)
        key = staged_key or self._new_key(new.prediction_id)
        return (new.prediction_id, result_text, None, key, maps, size, new.created)

    @staticmethod
    def _locked_total(connection: psycopg.Connection[Any]) -> int:
        """The stored total, with its row locked until the transaction ends: every writer takes this first."""
        row = connection.execute(_LOCK_USAGE).fetchone()
        return int(row[0]) if row else 0

    def _evict(self, connection: psycopg.Connection[Any], total: int, newest_seq: int | None) -> list[str]:
        """Delete the oldest rows until ``total`` fits (rows from ``newest_seq`` on are never victims), record
        the new total, and return the bucket keys to delete once this commits."""
        excess = total - self.max_bytes
        victims: list[int] = []
        freed = 0
        after = 0
        while freed < excess:
            batch = connection.execute(
                "SELECT seq, size FROM predictions WHERE seq > %s AND seq < %s ORDER BY seq LIMIT %s",
                (after, newest_seq, EVICTION_BATCH),
            ).fetchall()
            if not batch:
                break
            for seq, size in batch:
                victims.append(seq)
                freed += size
                if freed >= excess:
                    break
            after = batch[-1][0]
        keys = self._delete_rows(connection, "seq = ANY(%s)", (victims,)) if victims else []
        connection.execute("UPDATE store_usage SET total_bytes = %s", (total - freed,))
        return [key for _, _, key in keys if key is not None]

    @staticmethod
    def _delete_rows(
        connection: psycopg.Connection[Any], where: str, parameters: tuple[Any, ...]
    ) -> list[tuple[str, int, str | None]]:
        """Delete the rows ``where`` selects and record their bucket keys as orphans; (id, size, key) each."""
        rows: list[tuple[str, int, str | None]] = connection.execute(
            f"DELETE FROM predictions WHERE {where} RETURNING id, size, photo_key", parameters
        ).fetchall()
        keys = [key for _, _, key in rows if key is not None]
        if keys:
            connection.execute(
                "INSERT INTO orphan_blobs (key, due) SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
                (keys, time.time()),
            )
        return rows

    def _drop_blobs(self, keys: list[str]) -> None:
        """Delete committed orphans from the bucket, then their records; an unreachable bucket leaves both."""
        if not keys or self._blobs is None:
            return
        with suppress(StoreUnavailable):  # recorded in orphan_blobs: the next sweep deletes them
            self._blobs.delete(keys)
            with self._connection() as connection:
                connection.execute("DELETE FROM orphan_blobs WHERE key = ANY(%s)", (keys,))

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
            assert self._blobs is not None, "rows with photos in a bucket need CAMSERVE_BLOB_URL"
            photo = self._blobs.get(key)
            if photo is None:  # deleted between the two reads
                return None
        return StoredPrediction(result_from_text(result), bytes(photo), array_from_bytes(maps))

    def delete(self, prediction_id: str) -> bool:
        return bool(self._delete(_ALIVE, (prediction_id, self.oldest_alive())))

    def sweep(self) -> list[str]:
        gone = [] if self.retention_s is None else self._delete("created < %s", (self.oldest_alive(),))
        if self._blobs is not None:
            with self._connection() as connection:
                leftover = connection.execute(
                    "SELECT key FROM orphan_blobs WHERE due <= %s LIMIT 1000", (time.time(),)
                ).fetchall()
            self._drop_blobs([key for (key,) in leftover])
        return gone

    def _delete(self, where: str, parameters: tuple[Any, ...]) -> list[str]:
        with self._connection() as connection, connection.transaction():
            self._locked_total(connection)
            rows = self._delete_rows(connection, where, parameters)
            freed = sum(size for _, size, _ in rows)
            if freed:
                connection.execute("UPDATE store_usage SET total_bytes = total_bytes - %s", (freed,))
        self._drop_blobs([key for _, _, key in rows if key is not None])
        return [prediction_id for prediction_id, _, _ in rows]

    def total_bytes(self) -> int:
        with self._connection() as connection:
            row = connection.execute("SELECT total_bytes FROM store_usage").fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        with self._connection() as connection:
            row = connection.execute("SELECT count(*) FROM predictions").fetchone()
        return int(row[0]) if row else 0

    def check(self) -> None:
        with self._connection() as connection:
            connection.execute("SELECT 1")
        if self._blobs is not None:
            self._blobs.check()

    def close(self) -> None:
        self._uploader.shutdown()
        self._connections.close()
