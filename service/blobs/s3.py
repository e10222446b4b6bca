"""Photo bytes in an S3 bucket (``CAMSERVE_BLOB_URL=s3://bucket/prefix``), through obstore.

obstore (Rust's object_store crate) reads ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION`` itself, with the rest of the standard credential chain (web
identity, container and instance credentials). It replaced boto3 by measurement: a 60 kB put cost 1.51 ms of
CPU in boto3 and 0.23 ms in obstore (``python bench/s3_client.py``), and on a replica that CPU is taken from
inference. Timeouts are short and retries few: a request that cannot reach the bucket should hear 503
within seconds, not hang. The bucket must exist; the service never creates buckets.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

if TYPE_CHECKING:  # typed dictionaries that exist only in obstore's stubs
    from obstore.store import ClientConfig, RetryConfig

from camserve.service.stores.base import StoreUnavailable

_RETRIES: "RetryConfig" = {"max_retries": 1, "retry_timeout": timedelta(seconds=5)}


def open_blobs(url: str) -> "S3Blobs":
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"{url!r} names no bucket; write s3://bucket/prefix")
    return S3Blobs(parts.netloc, parts.path.strip("/"))


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except (BaseError, OSError) as error:  # obstore raises some of its errors as Python's own (OSError's kin)
        raise StoreUnavailable(f"S3: {error}".splitlines()[0]) from error


class S3Blobs:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        # Plain HTTP only where the endpoint itself says so (a local S3 server); AWS is always HTTPS.
        plain_http = os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://")
        client: ClientConfig = {"connect_timeout": "2s", "timeout": "10s", "allow_http": plain_http}
        self._store = S3Store(bucket, prefix=prefix or None, client_options=client, retry_config=_RETRIES)

    def put(self, key: str, data: bytes) -> None:
        with _translated_errors():
            obstore.put(self._store, key, data)

    def get(self, key: str) -> bytes | None:
        with _translated_errors():
            try:
                return bytes(obstore.get(self._store, key).bytes())
            except (NotFoundError, FileNotFoundError):
                return None

    def delete(self, keys: list[str]) -> None:
        if keys:
            with _translated_errors():
                obstore.delete(self._store, keys)

    def check(self) -> None:
        """A listing of at most one key: it fails unless the bucket exists and the credentials may read it."""
        with _translated_errors():
            next(iter(obstore.list(self._store, chunk_size=1)), None)
