"""Runs forwards off the event loop, on one dedicated thread, and records their metrics."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from models.predictor import Prediction, Predictor
from service.metrics import Metrics


class InferenceEngine:
    """One inference thread: the device is used by one forward at a time and the event loop never waits."""

    def __init__(self, predictor: Predictor, metrics: Metrics) -> None:
        self.predictor = predictor
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camserve-inference")
        self.ready = False

    async def warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.predictor.warm_up)
        self.ready = True

    async def predict(self, tensor: torch.Tensor) -> Prediction:
        loop = asyncio.get_running_loop()
        (prediction,) = await loop.run_in_executor(self._executor, self._forward, tensor.unsqueeze(0))
        return prediction

    def _forward(self, batch: torch.Tensor) -> list[Prediction]:
        started = time.perf_counter()
        predictions = self.predictor.predict(batch)
        self._metrics.inference_latency.observe(time.perf_counter() - started)
        self._metrics.batch_size.observe(len(predictions))
        return predictions

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
