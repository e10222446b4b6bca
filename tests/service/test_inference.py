"""The inference engine: full batches go to the lanes, at the batch size the lanes were measured to forward."""

import asyncio

import numpy as np

from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata
from camserve.service.inference import InferenceEngine
from camserve.service.metrics import Metrics
from tests.support.aio import run_in_own_loop

METADATA = ModelMetadata(
    name="fake", version="test", architecture="resnet34", class_names=("cat", "dog"), input_size=32
)


class TwoLanes:
    """Two lanes that forward half batches best; records which way each batch went."""

    runtime = "fake"
    device = "cpu"
    precision = "fp32"
    hook_count = 0
    metadata = METADATA

    def __init__(self, lanes: int, full_batch: int) -> None:
        self.lanes = lanes
        self.full_batch = full_batch
        self.ways: list[tuple[str, int]] = []

    def _answers(self, batch: np.ndarray) -> list[Prediction]:
        return [Prediction(np.array([0.5, 0.5], np.float32), np.zeros((2, 1, 1), np.float32)) for _ in batch]

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        self.ways.append(("alone", len(batch)))
        return self._answers(batch)

    def predict_in_lane(self, batch: np.ndarray) -> list[Prediction]:
        self.ways.append(("lane", len(batch)))
        return self._answers(batch)


def test_lanes_measured_on_half_batches_make_half_a_batch_full() -> None:
    predictor = TwoLanes(lanes=2, full_batch=4)
    engine = InferenceEngine(predictor, Metrics(), max_batch_size=8, max_wait_s=0.05, max_queue=64)
    assert (engine.lanes, engine.batcher.max_batch_size) == (2, 4)

    async def eight_at_once() -> None:
        engine.start()
        try:
            await asyncio.gather(*(engine.predict(np.zeros((3, 8, 8), np.float32)) for _ in range(8)))
        finally:
            await engine.stop()

    run_in_own_loop(eight_at_once())
    assert predictor.ways == [("lane", 4), ("lane", 4)]


def test_without_lanes_the_setting_is_the_full_batch() -> None:
    engine = InferenceEngine(TwoLanes(lanes=1, full_batch=4), Metrics(), max_batch_size=8, max_wait_s=0.0, max_queue=8)
    assert (engine.lanes, engine.batcher.max_batch_size) == (1, 8)
