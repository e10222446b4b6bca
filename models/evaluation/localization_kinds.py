"""The kinds of heatmap the localization benchmark weighs, each stretched over the photo at its size as
uploaded, exactly as the overlay is drawn: the served CAM (the weighted CAM, min-max normalised at cell
size, stretched bicubically, as ``service/render.py`` draws it), Grad-CAM and Grad-CAM++ (the faithfulness
benchmark's explainers, at input size, stretched the same way), the variants that need no new weights
(``camserve.models.inference.map_variants``) and two maps that know nothing: a centred blob and a flat map.
``squared`` and ``squared-blob`` are the served CAM and the blob with their contrast raised (same peaks, same
order of pixels), to show what of a map's energy on the animal is contrast rather than place.

Grad-CAM needs the PyTorch network and the train extra; every other kind comes from the served runtime's
class maps, so those kinds score the runtime the service would run.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from camserve.models.inference.cam import normalise, upsample, weighted_cam
from camserve.models.inference.map_variants import (
    centre_blob,
    contrastive_cam,
    merge_crop_map,
    multiscale_map,
    sharpened,
    upsample_bilinear,
)
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import decode_for_model, to_model_input
from camserve.models.inference.zoom import ZOOM_RULE, crop_input, zoom_box

if TYPE_CHECKING:
    from camserve.models.network import CamNetwork

__all__ = ["KINDS", "MULTISCALE_FACTOR", "NETWORK_KINDS", "Batch", "MapMaker"]

KINDS = (
    "cam",
    "gradcam",
    "gradcam++",
    "contrastive",
    "multiscale",
    "bilinear",
    "zoom",
    "squared",
    "blob",
    "squared-blob",
    "flat",
)
NETWORK_KINDS = frozenset({"gradcam", "gradcam++"})
MULTISCALE_FACTOR = 1.5  # the second input size, times the checkpoint's


@dataclass(frozen=True)
class Batch:
    """Photos as the service sees them: their bytes, size as uploaded (width, height), model inputs and the
    served runtime's answers."""

    data: list[bytes]
    sizes: list[tuple[int, int]]
    inputs: np.ndarray
    predictions: list[Prediction]


class MapMaker:
    """Each requested kind's maps for a batch of photos; ``network`` only where a Grad-CAM kind is asked for."""

    def __init__(
        self, predictor: Predictor, kinds: Sequence[str], max_pixels: int, network: "CamNetwork | None" = None
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown map kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
        if NETWORK_KINDS & set(kinds) and network is None:
            raise ValueError("Grad-CAM kinds need the checkpoint's PyTorch network (a body + class-map network)")
        self.predictor = predictor
        self.kinds = tuple(kinds)
        self.max_pixels = max_pixels
        self.explainers = None
        if network is not None and NETWORK_KINDS & set(kinds):
            from camserve.models.evaluation.faithfulness import Explainers

            self.explainers = Explainers(network, predictor.metadata)

    def batch(self, data: list[bytes]) -> Batch:
        """Decode and forward photos exactly as the service does (reduced-size JPEG decode, EXIF upright)."""
        metadata = self.predictor.metadata
        decoded = [decode_for_model(photo, metadata, self.max_pixels) for photo in data]
        inputs = np.stack([to_model_input(photo.image, metadata) for photo in decoded])
        return Batch(data, [(d.width, d.height) for d in decoded], inputs, self.predictor.predict(inputs))

    def maps(self, batch: Batch) -> list[dict[str, np.ndarray]]:
        """Per photo, each kind's map (H, W) at the photo's size."""
        per_photo: list[dict[str, np.ndarray]] = [{} for _ in batch.data]
        for kind in self.kinds:
            for photo, saliency in zip(per_photo, self._kind(kind, batch), strict=True):
                photo[kind] = saliency
        return per_photo

    def _kind(self, kind: str, batch: Batch) -> list[np.ndarray]:
        if kind in NETWORK_KINDS:
            return self._grad(kind, batch)
        if kind == "multiscale":
            return self._multiscale(batch)
        if kind == "zoom":
            return self._zoom(batch)
        return [self._single(kind, p, w, h) for p, (w, h) in zip(batch.predictions, batch.sizes, strict=True)]

    @staticmethod
    def _single(kind: str, prediction: Prediction, width: int, height: int) -> np.ndarray:
        maps, probabilities = prediction.class_maps, prediction.probabilities
        if kind == "cam":
            return upsample(normalise(weighted_cam(maps, probabilities)), width, height)
        if kind == "contrastive":
            return upsample(normalise(contrastive_cam(maps, probabilities)), width, height)
        if kind == "bilinear":
            return upsample_bilinear(normalise(weighted_cam(maps, probabilities)), width, height)
        if kind == "squared":
            return sharpened(MapMaker._single("cam", prediction, width, height))
        if kind == "blob":
            return centre_blob(width, height)
        if kind == "squared-blob":
            return sharpened(centre_blob(width, height))
        return np.ones((height, width), np.float32)  # flat

    def _grad(self, kind: str, batch: Batch) -> list[np.ndarray]:
        assert self.explainers is not None  # the constructor refused Grad-CAM kinds without a network
        targets = np.array([p.label_index() for p in batch.predictions])
        maps = self.explainers(kind, batch.inputs, targets)
        return [upsample(m, w, h) for m, (w, h) in zip(maps, batch.sizes, strict=True)]

    def _multiscale(self, batch: Batch) -> list[np.ndarray]:
        metadata = self.predictor.metadata
        larger = replace(metadata, input_size=round(MULTISCALE_FACTOR * metadata.input_size))
        decoded = [decode_for_model(photo, larger, self.max_pixels).image for photo in batch.data]
        answers = self.predictor.predict(np.stack([to_model_input(image, larger) for image in decoded]))
        return [
            multiscale_map([served.class_maps, answer.class_maps], served.probabilities, width, height)
            for served, answer, (width, height) in zip(batch.predictions, answers, batch.sizes, strict=True)
        ]

    def _zoom(self, batch: Batch) -> list[np.ndarray]:
        """The served zoom rule's crop, where it zooms: the crop's own weighted CAM merged into the photo's."""
        metadata = self.predictor.metadata
        maps = []
        for data, prediction, (width, height) in zip(batch.data, batch.predictions, batch.sizes, strict=True):
            whole = self._single("cam", prediction, width, height)
            box = zoom_box(prediction, width, height, metadata.input_size, ZOOM_RULE)
            if box is not None:
                crop_inputs = crop_input(data, box, width, height, metadata, self.max_pixels)
                crop = self.predictor.predict(crop_inputs[None])[0]
                crop_cam = weighted_cam(crop.class_maps, prediction.probabilities)  # explains the served answer
                whole = merge_crop_map(whole, crop_cam, box, ZOOM_RULE.crop_weight)
            maps.append(whole)
        return maps
