"""Results for the store tests: numbered entries of known content, and the type of the fixture that opens stores."""

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from camserve.service.schemas import Links, ModelInfo, PredictionResult, Timings
from camserve.service.stores import PredictionStore, StoreLimits
from camserve.service.stores.sqlite import SqliteStore

OpenStore = Callable[[StoreLimits], PredictionStore]  # opens a store of one kind, on one database, with limits

PHOTO_BYTES = 1000
ROOMY = StoreLimits(100 * 1024 * 1024)


def make_maps(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 7, 7)).astype(np.float32)


def make_result(prediction_id: str) -> PredictionResult:
    return PredictionResult(
        id=prediction_id,
        label="cat",
        confidence=0.75,
        probabilities={"cat": 0.75, "dog": 0.25},
        width=640,
        height=480,
        model=ModelInfo(name="camserve-test", version="1.0.0", trained=True),
        created_at="2026-01-01T00:00:00.000+00:00",
        links=Links.for_prediction(prediction_id),
        timings=Timings(decode_ms=1.0, inference_ms=2.0, total_ms=3.0),
    )


def put_numbered(store: PredictionStore, number: int, photo_bytes: int = PHOTO_BYTES) -> str:
    prediction_id = f"p{number:04d}"
    store.put(prediction_id, make_result(prediction_id), bytes([number % 256]) * photo_bytes, make_maps(number))
    return prediction_id


def entry_size(open_store: OpenStore) -> int:
    """The accounted size of one put_numbered entry, measured rather than guessed from the npy header."""
    probe = open_store(ROOMY)
    put_numbered(probe, 9999)
    size = probe.total_bytes()
    assert probe.delete("p9999")
    return size


def truncated_sqlite_store(directory: Path) -> Path:
    """A real SQLite store with results, cut to half its size after a clean close, as a copy interrupted midway."""
    path = directory / "whole.sqlite3"
    whole = SqliteStore(path, ROOMY)
    for number in range(20):
        put_numbered(whole, number, photo_bytes=20_000)
    whole.close()
    cut = directory / "cut.sqlite3"
    shutil.copy(path, cut)
    with cut.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    return cut
