"""PyTorch eager: the reference runtime and the CUDA path. The class maps come from a scoped forward hook."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from camserve.models.checkpoint import load_checkpoint
from camserve.models.classmap_network import ClassMapNetwork
from camserve.models.inference.predictor import Prediction, calibrated_probabilities, check_batch
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes import RuntimeRequest
from camserve.models.selection.devices import Precision, autocast, resolve_device, resolve_precision
from camserve.models.selection.hardware import usable_cores

__all__ = ["PRECISIONS", "TorchPredictor", "capture_output", "load"]

PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")  # fp16 on CUDA only


@contextmanager
def capture_output(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record ``module``'s forward outputs into a list owned by this call, and always remove the hook.

    The list is local to the ``with`` block, so two callers never share features; the hook exists only
    while the block runs, so hooks cannot accumulate however many requests are served.
    """
    outputs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: outputs.append(output.detach()))
    try:
        yield outputs
    finally:
        handle.remove()


class TorchPredictor:
    """Owns the network on its device; ``predict`` is safe to call from any thread."""

    runtime = "torch"

    def __init__(
        self, model: ClassMapNetwork, metadata: ModelMetadata, device: torch.device, precision: Precision
    ) -> None:
        self.metadata = metadata
        self.device = str(device)
        self.precision: Precision = precision
        self._device = device
        self.model = model.to(device).eval().to(memory_format=torch.channels_last)
        self._lock = threading.Lock()

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        """Forward a (N, 3, S, S) float batch; one device-to-host copy per output, not per photo."""
        check_batch(batch)
        inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        inputs = inputs.to(self._device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with self._lock, torch.inference_mode(), capture_output(self.model.class_maps) as captured:
            with autocast(self._device, self.precision):
                log_probs = self.model(inputs)
            (maps,) = captured
            probabilities = calibrated_probabilities(log_probs.float().cpu().numpy(), self.metadata.temperature)
            class_maps = maps.float().cpu().numpy()
        return [Prediction(p, m) for p, m in zip(probabilities, class_maps, strict=True)]

    @property
    def hook_count(self) -> int:
        """Forward hooks registered anywhere in the network; 0 between calls, however many were served."""
        return sum(len(module._forward_hooks) for module in self.model.modules())


def load(request: RuntimeRequest) -> TorchPredictor:
    device = resolve_device(request.device)
    precision = resolve_precision(request.precision, device)
    if device.type == "cpu":  # torch's own default follows the affinity and ignores a container's CPU quota
        torch.set_num_threads(usable_cores())
    model, metadata = load_checkpoint(request.weights_path)
    return TorchPredictor(model, metadata, device, precision)
