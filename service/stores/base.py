"""What every store promises, whichever database is behind it.

A 201 hands out a link, so a store's ``put_many`` returns only once its results are durable, and all of a
group or none of it. Results are bounded in total size (oldest evicted first, never one just stored) and
optionally expire. A store whose database or bucket cannot be reached raises ``StoreUnavailable``, which
the service answers with 503 and ``Retry-After``: never a 500, and never a 201 that was not stored.

A store that answers reads but cannot write (a full disk, a read-only file system, file or database) is not
ready either: ``check``, which /readyz calls, raises ``StoreUnwritable`` from the moment a write fails (a
request's, or the small real write readiness itself makes at most every ``WRITE_PROBE_INTERVAL_S``) until
a write as large as the failed one succeeds, so a load balancer stops sending uploads to it and resumes by
itself.
"""

import io
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from camserve.service.schemas import PredictionResult

__all__ = [
    "DuplicateResult",
    "NewResult",
    "PredictionStore",
    "StoreLimits",
    "StoreUnavailable",
    "StoreUnusable",
    "StoreUnwritable",
    "StoredPrediction",
    "array_from_bytes",
    "array_to_bytes",
    "result_from_text",
    "result_to_text",
]


log = logging.getLogger("camserve")

# Readiness writes for real at most this often; a write of a request that succeeded counts as one.
WRITE_PROBE_INTERVAL_S = 2.0
# After a write failed, the probe writes as much as that write did (a full disk may still take a small write),
# up to this much.
WRITE_PROBE_MAX_BYTES = 8 * 1024 * 1024


class StoreUnavailable(RuntimeError):
    """The database or the bucket cannot be reached now; the same call may succeed later."""


class StoreUnwritable(StoreUnavailable):
    """The store answers reads but cannot write now: a full disk, a read-only file system, file or database.
    Raised by ``check`` (readiness) until a probe write succeeds again."""


class StoreUnusable(RuntimeError):
    """The store cannot be used as found when it is opened (a damaged file): the message names it and says
    what to do. Nothing later succeeds by waiting."""


class DuplicateResult(ValueError):
    """A result with this id is stored already; the group it came in was stored not at all."""


@dataclass(frozen=True)
class StoreLimits:
    """``max_bytes``: the total size kept before the oldest results are evicted; ``retention_s``: results older
    than this are gone for readers at once and deleted by ``sweep`` (None: kept until evicted)."""

    max_bytes: int
    retention_s: float | None = None


@dataclass(frozen=True)
class NewResult:
    """One result to store: its id, the result, the photo as uploaded, the class maps, its Unix time."""

    prediction_id: str
    result: PredictionResult
    photo: bytes
    class_maps: np.ndarray
    created: float

    @property
    def approximate_bytes(self) -> int:
        """What it adds to the store, near enough to bound a group (the maps and JSON are small)."""
        return len(self.photo) + self.class_maps.nbytes + 4096


@dataclass(frozen=True)
class StoredPrediction:
    result: PredictionResult
    photo: bytes
    class_maps: np.ndarray


def array_to_bytes(array: np.ndarray) -> bytes:
    """Class maps as float32 ``.npy`` bytes: self-describing (shape, dtype) and never a pickle."""
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(data: bytes) -> np.ndarray:
    array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    return array


def result_to_text(result: PredictionResult) -> str:
    """The result as the JSON its row keeps: fields and probabilities in the order written, which is the
    order of its model's class maps (``stored_classes``)."""
    return result.model_dump_json()


def result_from_text(text: str) -> PredictionResult:
    """A row's JSON, parsed into its model here, once, so no reader handles a result by string keys."""
    return PredictionResult.model_validate_json(text)


@dataclass(frozen=True)
class _WriteFailure:
    since: float  # Unix time of the first of the failures in a row
    reason: str  # the latest one's own words
    nbytes: int  # the largest write that failed

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")
        return f"the store cannot write (since {since}): {self.reason}"


class _Writability:
    """Whether the store can write, as readiness reports it: the last write's outcome, a request's or a probe's.

    A write that fails marks the store unwritable from then on; only a probe that writes as much as the
    largest failed write (up to ``WRITE_PROBE_MAX_BYTES``) clears it. While nothing failed, ``check`` probes
    with a tiny write once the last successful write is ``interval_s`` old, so readiness also sees a store
    that turned read-only while no upload came, and probes can never load the store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failure: _WriteFailure | None = None
        self._known_at = float("-inf")  # monotonic time of the last write, succeeded or failed

    def check(self, probe: Callable[[int], None], interval_s: float) -> None:
        with self._lock:
            if time.monotonic() - self._known_at >= interval_s:
                failure = self._failure
                nbytes = 0 if failure is None else min(failure.nbytes, WRITE_PROBE_MAX_BYTES)
                try:
                    probe(nbytes)
                except StoreUnavailable as error:
                    self._record(str(error), nbytes)
                else:
                    self._known_at = time.monotonic()
                    if failure is not None:
                        log.info("camserve: the store can write again (a probe wrote %d bytes)", nbytes)
                        self._failure = None
            failure = self._failure
        if failure is not None:
            raise StoreUnwritable(failure.describe())

    def failed(self, reason: str, nbytes: int) -> None:
        with self._lock:
            self._record(reason, nbytes)

    def succeeded(self) -> None:
        """A write succeeded: readiness needs no probe for a while. A failure stays until a probe clears it: a
        small write may pass on a full disk while the uploads it refuses do not."""
        if self._failure is None:
            self._known_at = time.monotonic()

    def _record(self, reason: str, nbytes: int) -> None:
        previous = self._failure
        if previous is None:
            log.warning("camserve: the store cannot write: %s; /readyz answers 503 until a write succeeds", reason)
            self._failure = _WriteFailure(time.time(), reason, nbytes)
        else:
            self._failure = _WriteFailure(previous.since, reason, max(nbytes, previous.nbytes))
        self._known_at = time.monotonic()


class PredictionStore(ABC):
    """Results by id. Reads return None for a result that is unknown, deleted, evicted or expired.

    A store implements the abstract methods below, and runs each of its writes (``put_many``, ``delete``,
    ``sweep``, ``stage``) inside ``self._writing(nbytes)``, so readiness learns of the writes that fail."""

    write_probe_interval_s = WRITE_PROBE_INTERVAL_S

    def __init__(self, limits: StoreLimits) -> None:
        self.max_bytes = limits.max_bytes
        self.retention_s = limits.retention_s
        self._writability = _Writability()

    kind: str  # what /readyz reports: "sqlite", "postgresql", "postgresql+s3"
    stages_photos = False  # whether ``stage`` does anything: the service skips the call where it does not

    @abstractmethod
    def stage(self, prediction_id: str, photo: bytes) -> None:
        """Start storing the photo of a result still being computed, while the model looks at it, so that
        ``put_many`` has less left to do: a store whose photos travel far (to a bucket) sends them here.
        ``put_many`` of that id completes it; ``unstage`` undoes it."""

    @abstractmethod
    def unstage(self, prediction_id: str) -> None:
        """Undo ``stage`` for a result that will not be stored (its photo was refused, the server is busy)."""

    def expires_at(self, created: float) -> float | None:
        """When a result created at ``created`` (Unix time) stops being served, or None to keep it."""
        return None if self.retention_s is None else created + self.retention_s

    def oldest_alive(self) -> float:
        """The creation time before which results have expired."""
        return float("-inf") if self.retention_s is None else time.time() - self.retention_s

    def put(
        self,
        prediction_id: str,
        result: PredictionResult,
        photo: bytes,
        class_maps: np.ndarray,
        created: float | None = None,
    ) -> None:
        """Store one result (a group of one)."""
        created = time.time() if created is None else created
        self.put_many([NewResult(prediction_id, result, photo, class_maps, created)])

    @abstractmethod
    def put_many(self, results: Sequence[NewResult]) -> None:
        """Store several results durably in one transaction (a group commit), then evict the oldest others
        until the total fits; none of these is a victim. All or none: on any error none of them is stored."""

    @abstractmethod
    def get(self, prediction_id: str) -> StoredPrediction | None: ...

    @abstractmethod
    def _alive(self, columns: str, prediction_id: str) -> tuple[Any, ...] | None:
        """``columns`` (SQL) of the result's row, unless it is unknown, deleted, evicted or expired."""

    def get_result(self, prediction_id: str) -> PredictionResult | None:
        """The result alone."""
        row = self._alive("result", prediction_id)
        return None if row is None else result_from_text(row[0])

    def get_maps(self, prediction_id: str) -> tuple[PredictionResult, np.ndarray] | None:
        """The result and its class maps, without the photo."""
        row = self._alive("result, class_maps", prediction_id)
        return None if row is None else (result_from_text(row[0]), array_from_bytes(row[1]))

    def exists(self, prediction_id: str) -> bool:
        """Whether the result can still be read: what a cached picture of it is checked against."""
        return self._alive("1", prediction_id) is not None

    @abstractmethod
    def delete(self, prediction_id: str) -> bool:
        """Delete one result, photo and maps included, for good; False if there was none (expired ones too)."""

    @abstractmethod
    def sweep(self) -> list[str]:
        """Delete every expired result, returning their ids; readers stopped seeing them when they expired.
        Also finishes any clean-up an earlier outage interrupted."""

    @abstractmethod
    def total_bytes(self) -> int: ...

    @abstractmethod
    def count(self) -> int: ...

    def check(self) -> None:
        """Readiness: raise ``StoreUnavailable`` unless a read reaches the database (and the bucket) now, and
        ``StoreUnwritable`` unless the store can write (see ``_Writability``)."""
        self._check_reads()
        self._writability.check(self._probe_write, self.write_probe_interval_s)

    @abstractmethod
    def _check_reads(self) -> None:
        """Raise ``StoreUnavailable`` unless a read would reach the database (and the bucket) now."""

    @abstractmethod
    def _probe_write(self, nbytes: int) -> None:
        """Write ``nbytes`` (a few when 0) for real where results are written, durably, then remove them; raise
        ``StoreUnavailable`` if the store cannot. Where photos go elsewhere than rows (a bucket), the bytes go
        there and the row stays small, as a result's would."""

    @contextmanager
    def _writing(self, nbytes: int) -> Iterator[None]:
        """Around each write of about ``nbytes``: one that raises ``StoreUnavailable`` makes ``check`` report the
        store unwritable until a probe of as many bytes succeeds."""
        try:
            yield
        except StoreUnavailable as error:
            self._writability.failed(str(error), nbytes)
            raise
        self._writability.succeeded()

    @abstractmethod
    def close(self) -> None: ...
