"""Blob stores: where photo bytes go when ``CAMSERVE_BLOB_URL`` is set, one module each, by URL scheme.

A blob store is a module in this package named after its scheme (``s3.py`` serves ``s3://bucket/prefix``)
which defines ``def open_blobs(url: str) -> BlobStore``. The result store keeps the rows and decides what
is alive; the blob store only holds bytes under keys it is given.
"""

import importlib
import pkgutil
from functools import cache
from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["BlobStore", "blob_schemes", "check_blob_url", "open_blobs"]


class BlobStore(Protocol):
    """Bytes by key. Every method raises ``StoreUnavailable`` when the service behind it cannot be reached."""

    kind: str  # what /readyz reports beside the store's kind: "s3"

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` durably under ``key``."""

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None if there are none (deleted, or never stored)."""

    def delete(self, keys: list[str]) -> None:
        """Delete these keys; keys that do not exist are no error."""

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the bucket answers now."""


@cache
def blob_schemes() -> tuple[str, ...]:
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)))


def check_blob_url(url: str) -> str:
    """``url`` itself, if a blob store serves its scheme; else ValueError listing the schemes."""
    if urlsplit(url).scheme.lower() not in blob_schemes():
        raise ValueError(f"no blob store serves {url.split(':', 1)[0]!r} URLs; use one of: {', '.join(blob_schemes())}")
    return url


def open_blobs(url: str) -> BlobStore:
    module = importlib.import_module(f"{__name__}.{urlsplit(check_blob_url(url)).scheme.lower()}")
    blobs: BlobStore = module.open_blobs(url)
    return blobs
