"""Run the CAM network on a batch and return probabilities with the raw class maps."""

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from models.cam import capture_output
from models.metadata import ModelMetadata
from models.network import CamNetwork
from models.runtime import Precision, autocast


@dataclass(frozen=True)
class Prediction:
    """One photo's result: class probabilities (C,) and class maps (C, h, w), float32 on the CPU."""

    probabilities: np.ndarray
    class_maps: np.ndarray

    def label_index(self) -> int:
        return int(np.argmax(self.probabilities))


class CamPredictor(Protocol):
    """What the service needs of a model runtime: ``Predictor`` (PyTorch) or ``OnnxPredictor``."""

    backend: str
    metadata: ModelMetadata
    device: torch.device
    precision: Precision

    def predict(self, batch: torch.Tensor) -> list[Prediction]: ...

    @property
    def hook_count(self) -> int: ...


def check_batch(batch: torch.Tensor) -> None:
    """Both runtimes take (N, 3, H, W); anything else is the caller's bug, said before any forward."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) batch, got {tuple(batch.shape)}")


def warm_up(predictor: CamPredictor, batch_sizes: tuple[int, ...] = (1,)) -> None:
    """Forward once per serving batch size, so no request pays for kernel selection."""
    size = predictor.metadata.input_size
    for batch in batch_sizes:
        predictor.predict(torch.zeros(batch, 3, size, size))


class Predictor:
    """Owns the network on its device; ``predict`` is safe to call from any thread."""

    backend = "torch"

    def __init__(self, model: CamNetwork, metadata: ModelMetadata, device: torch.device, precision: Precision) -> None:
        self.metadata = metadata
        self.device = device
        self.precision = precision
        self.model = model.to(device).eval().to(memory_format=torch.channels_last)
        self._lock = threading.Lock()

    def predict(self, batch: torch.Tensor) -> list[Prediction]:
        """Forward a (N, 3, S, S) float batch; one device-to-host copy per output, not per photo."""
        check_batch(batch)
        inputs = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with self._lock, torch.inference_mode(), capture_output(self.model.class_maps) as captured:
            with autocast(self.device, self.precision):
                log_probs = self.model(inputs)
            (maps,) = captured
            probabilities = log_probs.float().exp().cpu().numpy()
            class_maps = maps.float().cpu().numpy()
        return [Prediction(p, m) for p, m in zip(probabilities, class_maps, strict=True)]

    @property
    def hook_count(self) -> int:
        """Forward hooks registered anywhere in the network; 0 between calls, however many were served."""
        return sum(len(module._forward_hooks) for module in self.model.modules())
