"""What a picture of a result is drawn with: the class asked for, the maps' weights, the zoom's box to outline.

Shared by the pictures a GET draws from a stored result and the overlay a POST with ``store=false`` answers
with, so both read a result the same way.
"""

from collections.abc import Sequence

import numpy as np

from camserve.service.results import stored_classes
from camserve.service.schemas import PredictionResult, Zoom

__all__ = ["UnknownClass", "class_index", "given_class", "map_weights", "outline"]


class UnknownClass(ValueError):
    """A class the answering model does not have; the message lists the ones it has."""


def given_class(class_name: str | None) -> str | None:
    """An empty name is no name: ``?class=`` is how a URL that spells every parameter (the README's) leaves it
    out, so it means the probability-weighted CAM, as an absent one does."""
    return class_name or None


def class_index(names: Sequence[str], class_name: str | None) -> int | None:
    """``class_name``'s map among ``names`` (the answering model's classes), or None for the weighted CAM."""
    if class_name is None:
        return None
    if class_name not in names:
        raise UnknownClass(f"unknown class {class_name!r}; choose one of: {', '.join(names)}")
    return names.index(class_name)


def map_weights(result: PredictionResult) -> np.ndarray:
    """What a stored result's maps are weighted by, in its model's class order: the probabilities of the forward
    that made them, the whole photo's (after a zoom, the answer combines them with the crop's)."""
    probabilities = result.zoom.photo_probabilities or result.probabilities
    return np.array([probabilities[name] for name in stored_classes(result)], np.float32)


def outline(zoom: Zoom, wanted: bool) -> tuple[int, int, int, int] | None:
    """The zoom's crop to draw on the overlay: asked for (?box=true) and there is one."""
    box = zoom.box
    return (box.left, box.top, box.right, box.bottom) if wanted and box else None
