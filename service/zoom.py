"""CAM-guided zoom in the service: decide from the photo's own maps, cut the crop on a request thread, and
send it through the same batching queue as every other photo (``camserve.models.inference.zoom`` holds the rule)."""

from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import PreparedPhoto
from camserve.models.inference.zoom import ZOOM_RULE, combine, crop_input, zoom_box
from camserve.service.metrics import Stage
from camserve.service.results import by_class
from camserve.service.schemas import Box, Zoom
from camserve.service.served_models import ServedModel
from camserve.service.state import AppState


@dataclass(frozen=True)
class Zoomed:
    """The probabilities to answer with, and what the result JSON says about the zoom."""

    probabilities: np.ndarray
    zoom: Zoom


async def zoom_in(
    state: AppState, model: ServedModel, data: bytes, prepared: PreparedPhoto, photo: Prediction, mirror: bool
) -> Zoomed:
    """Look again, with the same ``model``, at the hot region when the photo's map is concentrated; serve-time TTA
    (``mirror``) applies to the crop as to the photo. Raises what decoding and the queue raise (PhotoRejected,
    Overloaded, ShuttingDown)."""
    metadata = model.metadata
    box = zoom_box(photo, prepared.width, prepared.height, metadata.input_size, ZOOM_RULE)
    if box is None:
        return Zoomed(photo.probabilities, Zoom(requested=True))
    with model.engine.arriving(), state.metrics.timed(Stage.zoom):
        pixels = await run_in_threadpool(
            crop_input, data, box, prepared.width, prepared.height, metadata, state.settings.max_pixels
        )
    crop = await model.engine.look(pixels, mirror)  # no await since arriving(): see DynamicBatcher.arriving
    zoom = Zoom(
        requested=True,
        used=True,
        box=Box(left=box.left, top=box.top, right=box.right, bottom=box.bottom),
        photo_probabilities=by_class(photo.probabilities, metadata),
        crop_probabilities=by_class(crop.probabilities, metadata),
    )
    return Zoomed(combine(photo, crop, ZOOM_RULE), zoom)
