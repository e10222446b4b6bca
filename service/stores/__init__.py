"""Stores: where results live, one module each, chosen by the scheme of ``CAMSERVE_STORE_URL``.

A store is a module in this package named after its URL scheme (``sqlite.py`` serves ``sqlite:///path``,
``postgresql.py`` serves ``postgresql://...``) which defines::

    def open_store(url: str, limits: StoreLimits, blobs: BlobStore | None) -> PredictionStore

and a subclass of ``PredictionStore`` (``base.py``: what to implement, and how readiness learns that it cannot
write). A store found unusable when opened (a damaged file) raises ``StoreUnusable`` with one line saying
what to do.

``blobs`` is where photo bytes go when ``CAMSERVE_BLOB_URL`` is set (``camserve.service.blobs``); a store
that keeps photos only beside its rows refuses one. Modules are imported only when chosen, so a server on
SQLite loads no database driver. Adding a store is adding one file here (and its tests). A store too large
for one file keeps its parts, one job each, beside it as ``_<scheme>_<part>.py`` (``postgresql.py`` does):
names starting with ``_`` serve no scheme.
"""

import importlib
import pkgutil
from functools import cache
from urllib.parse import urlsplit

from camserve.service.blobs import open_blobs
from camserve.service.stores.base import (
    DuplicateResult,
    NewResult,
    PredictionStore,
    StoredPrediction,
    StoreLimits,
    StoreUnavailable,
    StoreUnusable,
    StoreUnwritable,
)

__all__ = [
    "DuplicateResult",
    "NewResult",
    "PredictionStore",
    "StoreLimits",
    "StoreUnavailable",
    "StoreUnusable",
    "StoreUnwritable",
    "StoredPrediction",
    "check_store_url",
    "open_store",
    "store_schemes",
]

# Other spellings in common use for the same scheme.
_ALIASES = {"postgres": "postgresql"}


@cache
def store_schemes() -> tuple[str, ...]:
    """Every store in this package, by URL scheme; nothing is imported to list them."""
    names = (info.name for info in pkgutil.iter_modules(__path__))
    return tuple(sorted(name for name in names if not name.startswith("_") and name != "base"))


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    return _ALIASES.get(scheme, scheme)


def check_store_url(url: str) -> str:
    """``url`` itself, if a store serves its scheme; else ValueError listing the schemes."""
    if _scheme(url) not in store_schemes():
        raise ValueError(f"no store serves {url.split(':', 1)[0]!r} URLs; use one of: {', '.join(store_schemes())}")
    return url


def open_store(url: str, limits: StoreLimits, blob_url: str | None = None) -> PredictionStore:
    """The store ``url`` names, with photo bytes in the blob store ``blob_url`` names, if given."""
    module = importlib.import_module(f"{__name__}.{_scheme(check_store_url(url))}")
    blobs = None if blob_url is None else open_blobs(blob_url)
    store: PredictionStore = module.open_store(url, limits, blobs)
    return store
