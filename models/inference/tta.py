"""Serve-time test-time augmentation (the lesson's ``learn.TTA()``): the photo and its mirror image, averaged.

Mirroring only: the mirror image's class maps mirror back exactly, cell for cell, so the averaged maps still
line up with the photo. A crop's maps would cover only part of it, so crops (which ``camserve evaluate
--tta`` also averages) are not served.
"""

import numpy as np

from camserve.models.inference.predictor import Prediction

__all__ = ["average_mirror_views", "mirror_views"]


def mirror_views(pixels: np.ndarray) -> list[np.ndarray]:
    """The model input (3, S, S) and its left-right mirror image."""
    return [pixels, np.ascontiguousarray(pixels[..., ::-1])]


def average_mirror_views(original: Prediction, mirrored: Prediction) -> Prediction:
    """Probabilities averaged; the mirror's class maps mirrored back onto the photo, then averaged."""
    probabilities = ((original.probabilities + mirrored.probabilities) / 2).astype(np.float32)
    class_maps = ((original.class_maps + mirrored.class_maps[..., ::-1]) / 2).astype(np.float32)
    return Prediction(probabilities, class_maps)
