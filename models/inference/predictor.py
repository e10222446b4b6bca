"""What every runtime offers the service: a batch of model inputs in, probabilities and class maps out.

Batches are numpy arrays, so the service, the decoder and runtimes such as ONNX Runtime need no torch.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from camserve.models.metadata import ModelMetadata

__all__ = [
    "DeviceChoice",
    "Precision",
    "PrecisionChoice",
    "Prediction",
    "Predictor",
    "calibrated_probabilities",
    "check_batch",
    "warm_up",
]

DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Precision = Literal["fp32", "bf16", "fp16", "int8"]


@dataclass(frozen=True)
class Prediction:
    """One photo's result: class probabilities (C,) and class maps (C, h, w), float32 on the CPU."""

    probabilities: np.ndarray
    class_maps: np.ndarray

    def label_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        """The probability of the predicted class."""
        return float(self.probabilities[self.label_index()])


class Predictor(Protocol):
    """A loaded checkpoint on one runtime (``camserve.models.runtimes``); ``predict`` is thread-safe."""

    runtime: str
    metadata: ModelMetadata
    device: str
    precision: Precision

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        """Forward a (N, 3, H, W) float32 batch of model inputs."""
        ...

    @property
    def hook_count(self) -> int:
        """Forward hooks registered on the network; 0 between calls (and always, for graph runtimes)."""
        ...


def calibrated_probabilities(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log_probs / temperature) per row, float32: what every runtime reports as probabilities. At
    temperature 1 it is the network's own softmax; the checkpoint's fitted temperature makes confidences
    honest (``camserve calibrate``). The argmax, and so the label, never changes."""
    scaled = np.asarray(log_probs, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    probabilities: np.ndarray = (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)
    return probabilities


def check_batch(batch: np.ndarray) -> None:
    """Every runtime takes (N, 3, H, W); anything else is the caller's bug, said before any forward."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) batch, got {tuple(batch.shape)}")


def warm_up(predictor: Predictor, batch_sizes: tuple[int, ...] = (1,)) -> tuple[int, int]:
    """Forward once per serving batch size, so no request pays for kernel selection. Returns the class maps'
    grid (rows, columns) at the input size: every photo is squashed to that size, and only a forward tells the
    grid for any architecture and runtime."""
    size = predictor.metadata.input_size
    grid = (0, 0)
    for batch in batch_sizes:
        predictions = predictor.predict(np.zeros((batch, 3, size, size), dtype=np.float32))
        _, rows, columns = predictions[0].class_maps.shape
        grid = (rows, columns)
    return grid
