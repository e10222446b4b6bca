"""Class activation maps: capture the class-map conv's output with a scoped hook, and the lesson's maths."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

FLAT_MAP_TOLERANCE = 1e-6


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


def weighted_cam(class_maps: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The lesson's CAM: ReLU of each class map, weighted by that class's probability, summed (feat . py)."""
    if class_maps.ndim != 3 or probabilities.shape != (class_maps.shape[0],):
        raise ValueError(f"expected maps (C, h, w) and C probabilities, got {class_maps.shape}, {probabilities.shape}")
    return np.tensordot(probabilities, np.maximum(class_maps, 0.0), axes=1).astype(np.float32)


def class_cam(class_maps: np.ndarray, class_index: int) -> np.ndarray:
    """One class's own map, ReLU'd like the weighted CAM so both read the same way."""
    return np.maximum(class_maps[class_index], 0.0).astype(np.float32)


def normalise(cam: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a flat map (nothing stands out) becomes all zeros instead of NaN.

    Computed in float64: for extreme maps, max - min can overflow float32 and turn the result into NaN.
    """
    low, high = float(cam.min()), float(cam.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low < FLAT_MAP_TOLERANCE:
        return np.zeros_like(cam, dtype=np.float32)
    return ((cam.astype(np.float64) - low) / (high - low)).astype(np.float32)
