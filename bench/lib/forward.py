"""The bare forward, in this process, on the service's own inputs: the limit a server is measured against.

Taken in the same minutes as the server's figures (before and after each level), since the speed of these
shared cores drifts by tens of percent between runs.
"""

import statistics
import time
from typing import Any

import numpy as np

from bench.lib.photos import Photo
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings

Table = list[dict[str, float]]  # per batch size: the batch, ms per batch and photos per second


class ForwardTimer:
    """A predictor with every photo prepared as the service prepares it, timed at any batch size.

    ``served`` loads the checkpoint from the same ``CAMSERVE_*`` settings as the server's, pinned to the backend,
    device type and precision the server reported, so the two sides run the same arithmetic; bench/serving.py
    times every runtime and precision it can load.
    """

    def __init__(self, predictor: Predictor, photos: list[Photo], max_pixels: int) -> None:
        self.predictor = predictor
        self._inputs = {p.name: prepare(p.data, predictor.metadata, max_pixels).pixels for p in photos}

    @classmethod
    def served(cls, ready: dict[str, Any], photos: list[Photo]) -> "ForwardTimer":
        """The runtime, device type and precision the server reported in its /readyz body ``ready``."""
        settings = Settings(
            device=ready["device"].partition(":")[0], precision=ready["precision"], backend=ready["backend"]
        )
        return cls(load_predictor(settings.backend, settings.runtime_request()), photos, settings.max_pixels)

    def batch(self, size: int) -> np.ndarray:
        inputs = list(self._inputs.values())
        return np.stack([inputs[i % len(inputs)] for i in range(size)])

    def photo(self, photo: Photo) -> np.ndarray:
        return self._inputs[photo.name][None]

    def seconds(self, batch: np.ndarray) -> float:
        started = time.perf_counter()
        self.predictor.predict(batch)
        return time.perf_counter() - started

    def table(self, batch_sizes: list[int], reps: int) -> Table:
        """Median of ``reps`` forwards per batch size, after one untimed one."""
        rows = []
        for size in batch_sizes:
            batch = self.batch(size)
            self.predictor.predict(batch)
            batch_ms = statistics.median(self.seconds(batch) for _ in range(reps)) * 1000.0
            rows.append({"batch": size, "ms_per_batch": round(batch_ms, 2), "photos_per_s": 1000.0 * size / batch_ms})
        return rows


def best_photos_per_s(table: Table) -> float:
    return max(row["photos_per_s"] for row in table)


def mean_table(tables: list[Table]) -> Table:
    """Per batch size, the mean over tables of ms per batch, with the photos/s and ms/photo that follow."""
    rows = []
    for rows_at_size in zip(*tables, strict=True):
        size = rows_at_size[0]["batch"]
        batch_ms = statistics.fmean(row["ms_per_batch"] for row in rows_at_size)
        rows.append(
            {
                "batch": size,
                "ms_per_batch": round(batch_ms, 2),
                "ms_per_photo": round(batch_ms / size, 2),
                "photos_per_s": round(1000.0 * size / batch_ms, 2),
            }
        )
    return rows
