"""Results for the store tests: numbered entries of known content, and the type of the fixture that opens stores."""

from collections.abc import Callable

import numpy as np

from camserve.service.stores import PredictionStore, StoreLimits

OpenStore = Callable[[StoreLimits], PredictionStore]  # opens a store of one kind, on one database, with limits

PHOTO_BYTES = 1000
ROOMY = StoreLimits(100 * 1024 * 1024)


def make_maps(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 7, 7)).astype(np.float32)


def make_result(prediction_id: str) -> dict[str, object]:
    return {"id": prediction_id, "label": "cat", "probabilities": {"cat": 0.75, "dog": 0.25}, "width": 640}


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
