"""The PostgreSQL store's photos in a bucket (``CAMSERVE_BLOB_URL``): staged, uploaded, and deleted for good.

Bucket objects are deleted after the transaction that deleted their rows commits. Their keys are recorded in
``orphan_blobs`` in that same transaction, so a bucket that cannot be reached at that moment leaves a record
that ``sweep`` finishes later, never a photo nobody knows about.

A photo travels to the bucket while the model looks at it (``stage``, called by the service as the upload
arrives): its key is first recorded in ``orphan_blobs``, due for deletion ``STAGED_GRACE_S`` later, then the
bytes are sent. The transaction that stores the result deletes that record with the row's insert (``adopt``),
so a stored photo is never swept, and the photo of a request that failed, or of a process killed meanwhile,
is. A photo not staged is uploaded while its row is inserted (``upload``), and the row commits only once the
upload succeeded; if either fails the upload is deleted at once, best effort (``abandon``).
"""

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from contextlib import AbstractContextManager, suppress
from typing import Any

import psycopg

from camserve.service.blobs import BlobStore
from camserve.service.stores.base import StoreUnavailable

__all__ = ["STAGED_GRACE_S", "UPLOAD_THREADS", "WRITE_PROBE_KEY", "BucketPhotos", "new_key", "record_orphans"]

# A staged photo whose result was not stored by then is deleted by the sweep: far longer than any request.
STAGED_GRACE_S = 600.0
UPLOAD_THREADS = 4  # photos of one group travel to the bucket side by side
SWEPT_AT_ONCE = 1000
# The key readiness writes to and deletes at once, shared by every replica (photo keys always hold a dot): a
# process killed between the two leaves at most this one object, which the next probe deletes.
WRITE_PROBE_KEY = "write-probe"

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def new_key(prediction_id: str) -> str:
    """A bucket key of this upload's own: a failed put deletes what it uploaded, and must never hit the photo
    of a row stored under the same id."""
    return f"{prediction_id}.{secrets.token_hex(8)}"


def record_orphans(connection: psycopg.Connection[Any], keys: list[str], delay_s: float = 0.0) -> None:
    """Record bucket keys for ``sweep`` to delete ``delay_s`` from now, unless their photo is stored by then."""
    if keys:
        connection.execute(
            "INSERT INTO orphan_blobs (key, due) SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
            (keys, time.time() + delay_s),
        )


class BucketPhotos:
    """The bucket side of the store: ``connect`` gives the store's connections, for the orphan records."""

    def __init__(self, blobs: BlobStore, connect: Connect) -> None:
        self.kind = blobs.kind
        self._blobs = blobs
        self._connect = connect
        self._staged: dict[str, str] = {}  # prediction id -> bucket key, for photos staged and not yet stored
        self._staged_lock = threading.Lock()
        self._uploader = futures.ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="camserve-upload")

    def stage(self, prediction_id: str, photo: bytes) -> None:
        key = new_key(prediction_id)
        with self._connect() as connection:
            record_orphans(connection, [key], STAGED_GRACE_S)
        self._blobs.put(key, photo)
        with self._staged_lock:
            self._staged[prediction_id] = key

    def unstage(self, prediction_id: str) -> None:
        with self._staged_lock:
            key = self._staged.pop(prediction_id, None)
        if key is not None:
            self.drop([key])

    def claim_staged(self, prediction_ids: Iterable[str]) -> dict[str, str]:
        """The keys of these results' staged photos, by prediction id, no longer staged: they are being stored."""
        with self._staged_lock:
            return {
                prediction_id: key
                for prediction_id in prediction_ids
                if (key := self._staged.pop(prediction_id, None)) is not None
            }

    def upload(self, photos: dict[str, bytes]) -> list["futures.Future[None]"]:
        """Start sending photos by key, side by side; wait on each before committing its row."""
        return [self._uploader.submit(self._blobs.put, key, photo) for key, photo in photos.items()]

    @staticmethod
    def adopt(connection: psycopg.Connection[Any], keys: list[str]) -> None:
        """In the transaction that stores their rows: staged photos are no longer orphans."""
        if keys:
            connection.execute("DELETE FROM orphan_blobs WHERE key = ANY(%s)", (keys,))

    def abandon(self, uploading: list["futures.Future[None]"], keys: list[str]) -> None:
        """After a failed put: once its uploads are done, delete its photos at once, best effort. If the bucket
        failed too, staged photos stay recorded for the sweep; uploads are forgotten."""
        futures.wait(uploading)
        if keys:
            with suppress(StoreUnavailable):
                self._blobs.delete(keys)

    def drop(self, keys: list[str]) -> None:
        """Delete committed orphans from the bucket, then their records; an unreachable bucket leaves both."""
        if not keys:
            return
        with suppress(StoreUnavailable):  # recorded in orphan_blobs: the next sweep deletes them
            self._blobs.delete(keys)
            with self._connect() as connection:
                connection.execute("DELETE FROM orphan_blobs WHERE key = ANY(%s)", (keys,))

    def sweep(self) -> None:
        """Delete the orphans that are due: those an outage left behind, and staged photos never stored."""
        with self._connect() as connection:
            leftover = connection.execute(
                "SELECT key FROM orphan_blobs WHERE due <= %s LIMIT %s", (time.time(), SWEPT_AT_ONCE)
            ).fetchall()
        self.drop([key for (key,) in leftover])

    def get(self, key: str) -> bytes | None:
        return self._blobs.get(key)

    def check(self) -> None:
        self._blobs.check()

    def probe_write(self, nbytes: int) -> None:
        """Put ``nbytes`` (one at least) in the bucket and delete them: whether it takes writes now."""
        self._blobs.put(WRITE_PROBE_KEY, bytes(max(nbytes, 1)))
        self._blobs.delete([WRITE_PROBE_KEY])

    def close(self) -> None:
        self._uploader.shutdown()
