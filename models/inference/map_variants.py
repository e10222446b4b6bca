"""Heatmaps from the same forward's outputs, without new weights: each a small pure function of class maps and
probabilities, for ``camserve evaluate --localization`` to weigh against the served CAM and for the service to
adopt if one finds the animal better. Maps at cell resolution come back unnormalised, as ``weighted_cam`` does."""

from collections.abc import Sequence

import cv2
import numpy as np

from camserve.models.inference.cam import normalise, upsample, weighted_cam
from camserve.models.inference.zoom import CropBox

__all__ = [
    "CENTRE_SIGMA_FRACTION",
    "centre_blob",
    "contrastive_cam",
    "merge_crop_map",
    "multiscale_map",
    "sharpened",
    "upsample_bilinear",
]

CENTRE_SIGMA_FRACTION = 0.25
SHARPENING_POWER = 2.0


def centre_blob(width: int, height: int) -> np.ndarray:
    """A Gaussian centred on the photo, sigma CENTRE_SIGMA_FRACTION of each side, peak 1: the map that knows
    nothing but that photographers centre their subject, which every map must beat."""
    x = (np.arange(width) - (width - 1) / 2) / (CENTRE_SIGMA_FRACTION * width)
    y = (np.arange(height) - (height - 1) / 2) / (CENTRE_SIGMA_FRACTION * height)
    blob: np.ndarray = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / 2).astype(np.float32)
    return blob


def contrastive_cam(class_maps: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """ReLU of the predicted class's map minus the strongest other class's, cell by cell: where the evidence is
    for this class rather than for any class (a cat's and a dog's maps both fire on fur; only the difference
    says which animal it is)."""
    if class_maps.ndim != 3 or class_maps.shape[0] < 2 or probabilities.shape != (class_maps.shape[0],):
        raise ValueError(f"expected maps (C >= 2, h, w) and C probabilities, got {class_maps.shape}")
    predicted = int(np.argmax(probabilities))
    others = np.delete(class_maps, predicted, axis=0).max(axis=0)
    contrast: np.ndarray = np.maximum(class_maps[predicted] - others, 0.0).astype(np.float32)
    return contrast


def sharpened(saliency: np.ndarray, power: float = SHARPENING_POWER) -> np.ndarray:
    """A map in [0, 1] raised to ``power``: the same peak and the same order of pixels, with less heat where the
    map is lukewarm. It says nothing new about the photo; it is here to show how much of a map's energy on the
    animal is its contrast (a cell with half the peak's evidence drawn at a quarter of its heat)."""
    if saliency.size and (float(saliency.min()) < 0.0 or float(saliency.max()) > 1.0 + 1e-6):
        raise ValueError("sharpened expects a map normalised to [0, 1]")
    raised: np.ndarray = np.power(saliency, power).astype(np.float32)
    return raised


def upsample_bilinear(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same cells stretched bilinearly (same cell-centre alignment), as camserve drew them up to 2.0.0's
    release: every peak on a cell centre. Kept as a kind so the localization table shows what bicubic bought."""
    stretched: np.ndarray = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    return stretched


def multiscale_map(
    class_maps_per_size: Sequence[np.ndarray], probabilities: np.ndarray, width: int, height: int
) -> np.ndarray:
    """The weighted CAMs of the same photo at several input sizes, each normalised and stretched over the photo,
    averaged. ``probabilities`` are the served size's, so every size explains the served answer; a larger input
    gives more cells on the same photo."""
    if not class_maps_per_size:
        raise ValueError("multiscale_map needs the class maps of at least one input size")
    stretched = [upsample(normalise(weighted_cam(maps, probabilities)), width, height) for maps in class_maps_per_size]
    averaged: np.ndarray = np.mean(stretched, axis=0).astype(np.float32)
    return averaged


def merge_crop_map(photo_map: np.ndarray, crop_cam: np.ndarray, box: CropBox, crop_weight: float) -> np.ndarray:
    """The zoom crop's own normalised map stretched over its box and mixed into the whole photo's map (H, W),
    ``crop_weight`` of the crop's inside the box (the zoom rule mixes the two answers' probabilities the same
    way); outside the box the photo's map is unchanged."""
    merged = photo_map.astype(np.float32, copy=True)
    inside = merged[box.top : box.bottom, box.left : box.right]
    crop = upsample(normalise(crop_cam), box.width, box.height)
    merged[box.top : box.bottom, box.left : box.right] = (1.0 - crop_weight) * inside + crop_weight * crop
    return merged
