"""CAM-guided zoom in the service: decide from the photo's own maps, cut the crop on a request thread, and
send it through the same batching queue as every other photo (``camserve.models.inference.zoom`` holds the rule)."""

from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from camserve.models.inference.decode import open_photo
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import PreparedPhoto
from camserve.models.inference.zoom import ZOOM_RULE, combine, crop_bytes, crop_decode_size, crop_opened, zoom_box
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
    (``mirror``) applies to the crop as to the photo. The crop's decode, as large as the crop needs (up to the
    whole photo), holds its bytes of the memory budget. Raises what decoding, the budget and the queue raise
    (PhotoRejected, MemoryBusy, Overloaded, ShuttingDown)."""
    metadata = model.metadata
    box = zoom_box(photo, prepared.width, prepared.height, metadata.input_size, ZOOM_RULE)
    if box is None:
        return Zoomed(photo.probabilities, Zoom(requested=True))
    needed = crop_decode_size(box, prepared.width, prepared.height, metadata)
    opened = open_photo(data, state.settings.max_pixels, min_decode_size=needed)
    with (
        await state.memory.reserve(crop_bytes(opened), state.settings.memory_wait_s, "decoding the zoom's crop"),
        model.engine.arriving(),
        state.metrics.timed(Stage.zoom),
    ):
        pixels = await run_in_threadpool(crop_opened, opened, box, metadata)
    crop = await model.engine.look(pixels, mirror)  # no await since arriving(): see DynamicBatcher.arriving
    zoom = Zoom(
        requested=True,
        used=True,
        box=Box(left=box.left, top=box.top, right=box.right, bottom=box.bottom),
        photo_probabilities=by_class(photo.probabilities, metadata),
        crop_probabilities=by_class(crop.probabilities, metadata),
    )
    return Zoomed(combine(photo, crop, ZOOM_RULE), zoom)
