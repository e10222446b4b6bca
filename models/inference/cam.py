"""The lesson's CAM maths on class maps as numpy arrays, whichever runtime produced them."""

import cv2
import numpy as np

FLAT_MAP_TOLERANCE = 1e-6


def weighted_cam(class_maps: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The lesson's CAM: ReLU of each class map, weighted by that class's probability, summed (feat . py)."""
    if class_maps.ndim != 3 or probabilities.shape != (class_maps.shape[0],):
        raise ValueError(f"expected maps (C, h, w) and C probabilities, got {class_maps.shape}, {probabilities.shape}")
    cam: np.ndarray = np.tensordot(probabilities, np.maximum(class_maps, 0.0), axes=1).astype(np.float32)
    return cam


def class_cam(class_maps: np.ndarray, class_index: int) -> np.ndarray:
    """One class's own map, ReLU'd like the weighted CAM so both read the same way."""
    cam: np.ndarray = np.maximum(class_maps[class_index], 0.0).astype(np.float32)
    return cam


def normalise(cam: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a flat map (nothing stands out) becomes all zeros instead of NaN.

    Computed in float64: for extreme maps, max - min can overflow float32 and turn the result into NaN.
    """
    low, high = float(cam.min()), float(cam.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low < FLAT_MAP_TOLERANCE:
        return np.zeros_like(cam, dtype=np.float32)
    return ((cam.astype(np.float64) - low) / (high - low)).astype(np.float32)


def upsample(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Stretch the map over the whole photo; cell centres map to the centres of the regions they saw.

    Bicubic, clipped back to the map's own range (bicubic overshoots near steep cells): its peak can sit between
    cell centres, where two hot cells agree, instead of always on one. On annotated pet photos it found the head
    and the animal measurably more often than bilinear did with the same cells (weights/README.md, "Where the
    map lands"), at the cost of one resize either way."""
    stretched = cv2.resize(cam, (width, height), interpolation=cv2.INTER_CUBIC)
    clipped: np.ndarray = np.clip(stretched, float(cam.min()), float(cam.max())).astype(np.float32, copy=False)
    return clipped
