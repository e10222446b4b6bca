"""Runs forwards off the event loop, on one dedicated thread (one per lane), batching concurrent requests."""

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import numpy as np

from camserve.models.inference.predictor import Prediction, Predictor, warm_up
from camserve.models.inference.tta import average_mirror_views, mirror_views
from camserve.models.selection.lanes import LanedPredictor
from camserve.service.batching import DynamicBatcher
from camserve.service.metrics import Metrics, Stage


class InferenceEngine:
    """One inference thread fed by a dynamic batcher: one forward at a time (or one per lane, for full batches,
    where the runtime has lanes), and the event loop never waits."""

    def __init__(
        self, predictor: Predictor, metrics: Metrics, max_batch_size: int, max_wait_s: float, max_queue: int
    ) -> None:
        self.predictor = predictor
        self._metrics = metrics
        # Full batches go side by side where the runtime has lanes and they paid on this machine, at the batch
        # size its lanes were measured to forward best (never above the setting).
        self.lanes = 1
        self._forward_full: Callable[[np.ndarray], list[Prediction]] = predictor.predict
        if isinstance(predictor, LanedPredictor) and predictor.lanes > 1:
            self.lanes = predictor.lanes
            self._forward_full = predictor.predict_in_lane
            max_batch_size = min(max_batch_size, predictor.full_batch or max_batch_size)
        self._executor = ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="camserve-inference")
        self.batcher = DynamicBatcher(
            self._forward,
            self._executor,
            max_batch_size,
            max_wait_s,
            max_queue,
            observe_queue_wait=lambda seconds: metrics.observe(Stage.queue_wait, seconds),
            max_in_flight=self.lanes,
        )
        self.ready = False
        # The class maps' (rows, columns), known from the warm-up's forward; None before it.
        self.map_grid: tuple[int, int] | None = None

    def start(self) -> None:
        self.batcher.start()

    def warm_up(self) -> None:
        """Warm the smallest and the largest batch before /readyz says ready."""
        self.map_grid = warm_up(self.predictor, tuple(sorted({1, self.batcher.max_batch_size})))
        self.ready = True

    def arriving(self) -> AbstractContextManager[None]:
        """Wrap a photo's decoding in this, so the batch forming meanwhile waits for it."""
        return self.batcher.arriving()

    async def predict(self, pixels: np.ndarray) -> Prediction:
        return await self.batcher.submit(pixels)

    async def predict_views(self, views: Sequence[np.ndarray]) -> list[Prediction]:
        """Several views of one photo (serve-time TTA), queued together so they share a forward."""
        return await self.batcher.submit_all(views)

    async def look(self, pixels: np.ndarray, mirror: bool) -> Prediction:
        """One view's answer (a photo or its zoomed crop), with ``mirror`` averaged with its mirror image
        (serve-time TTA). Submits before any await, so it may follow ``arriving`` directly."""
        if mirror:
            return average_mirror_views(*await self.predict_views(mirror_views(pixels)))
        return await self.predict(pixels)

    def _forward(self, inputs: list[np.ndarray]) -> list[Prediction]:
        """Stack on the inference thread too, keeping the copy off the event loop."""
        started = time.perf_counter()
        forward = self._forward_full if len(inputs) == self.batcher.max_batch_size else self.predictor.predict
        predictions = forward(np.stack(inputs))
        elapsed = time.perf_counter() - started
        model = self.predictor.metadata.name
        self._metrics.inference_latency.labels(model).observe(elapsed)
        self._metrics.observe(Stage.inference, elapsed)
        self._metrics.batch_size.labels(model).observe(len(predictions))
        return predictions

    async def stop(self) -> None:
        await self.batcher.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)
