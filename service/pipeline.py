"""One photo's way from upload to answer: decode, forward, zoom and classification, then kept or drawn.

The routes map HTTP to this and back (``routes/predictions.py``, ``routes/open_inference.py``): here the
steps run in their order, are timed into the result and the stage metrics, and raise what refuses a request
(``UnknownModel``, ``OptionRefused``, ``UnknownClass``, ``PhotoRejected``, ``Overloaded``, ``ShuttingDown``,
``StoreUnavailable``), for the route to answer with a status.
"""

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import numpy as np
from starlette.concurrency import run_in_threadpool

from camserve.models.inference.decode import OpenedPhoto, PhotoTooLarge, open_photo
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import open_for_model, prepare_opened
from camserve.service.metrics import Stage
from camserve.service.pictures import class_index, outline
from camserve.service.render import Colormap, Picture, RenderRequest, picture_bytes, render_opened
from camserve.service.results import classify
from camserve.service.schemas import Classification, Links, PredictionResult, Timings, UnstoredResult, Zoom
from camserve.service.served_models import ServedModel
from camserve.service.settings import Settings
from camserve.service.staging import StagedPhoto, staged_photo
from camserve.service.state import AppState
from camserve.service.stores import NewResult
from camserve.service.zoom import Zoomed, zoom_in

__all__ = [
    "ID_BYTES",
    "Answer",
    "OptionRefused",
    "PredictionOptions",
    "PredictionOutcome",
    "Upload",
    "answer",
    "draw",
    "predict",
]

ID_BYTES = 16  # 128 random bits

# Kept: the result, its links working from now on. Not kept (store=false): the result with its overlay inline.
PredictionOutcome = PredictionResult | UnstoredResult
_Encoded = TypeVar("_Encoded")


class OptionRefused(ValueError):
    """An option this server cannot honour (store=true where it keeps no photos)."""


class Upload(Protocol):
    """The uploaded photo, read no further than needed to know it is too large (FastAPI's ``UploadFile``)."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class PredictionOptions:
    """What a POST asks for. None leaves the choice to the server's setting: CAMSERVE_STORE_PHOTOS for
    ``store``, CAMSERVE_TTA for ``tta``, CAMSERVE_ZOOM for ``zoom``, the default model for ``model``.
    ``alpha``, ``colormap``, ``class_name`` and ``box`` draw the overlay answered when nothing is stored."""

    store: bool | None = None
    alpha: float = 0.5
    colormap: Colormap = Colormap.jet
    class_name: str | None = None
    tta: bool | None = None
    zoom: bool | None = None
    box: bool = False
    model: str | None = None

    def keeps(self, settings: Settings) -> bool:
        return settings.store_photos if self.store is None else self.store

    def mirrors(self, settings: Settings) -> bool:
        return settings.tta if self.tta is None else self.tta

    def zooms(self, settings: Settings) -> bool:
        return settings.zoom if self.zoom is None else self.zoom


@dataclass(frozen=True)
class _Looked:
    """What the model said about one photo, before it is kept or drawn."""

    photo: Prediction  # the whole photo's forward: the maps kept and drawn, and the probabilities weighting them
    zoom: Zoom
    answer: Prediction  # after a zoom, its probabilities combine the photo's and the crop's
    width: int
    height: int
    decoded_at: float
    inferred_at: float
    zoomed_at: float

    def timings(self, started: float, zooming: bool) -> Timings:
        """Where the time went, from the request's start (``started``) to now."""
        return Timings(
            decode_ms=_ms(self.decoded_at - started),
            inference_ms=_ms(self.inferred_at - self.decoded_at),
            zoom_ms=_ms(self.zoomed_at - self.inferred_at) if zooming else 0.0,
            total_ms=_ms(time.perf_counter() - started),
        )


@dataclass(frozen=True)
class Answer:
    """One photo's answer with the maps behind it, kept or not: what a POST answers with, and what the Open
    Inference Protocol's route sends as tensors (``routes/open_inference.py``)."""

    classification: Classification
    result: PredictionResult | None  # the stored result, its links live; None when nothing was kept
    probabilities: np.ndarray  # (C,) the answer's: after a zoom, the photo's and the crop's combined
    class_maps: np.ndarray  # (C, h, w) the whole photo's
    map_weights: np.ndarray  # (C,) the whole photo's probabilities, which weight its maps into the CAM
    map_class: int | None  # the class whose own map was asked for (``class``); None: the weighted CAM
    created: float
    timings: Timings


async def predict(state: AppState, options: PredictionOptions, upload: Upload) -> PredictionOutcome:
    """The result of one uploaded photo, stored or with its overlay, as ``options`` ask."""
    started = time.perf_counter()
    served, map_class = _checked(state, options)
    data = await _read(upload, state.settings.max_upload_bytes)
    answered = await _answer(state, served, options, map_class, data, started)
    if answered.result is not None:
        return answered.result
    request = RenderRequest(
        Picture.overlay, options.alpha, options.colormap, map_class, outline(answered.classification.zoom, options.box)
    )
    overlay = await _drawn(state, data, answered.class_maps, answered.map_weights, request, _base64)
    return UnstoredResult(
        **answered.classification.model_dump(),
        created_at=_iso(answered.created),
        overlay_png=overlay,
        timings=answered.timings,
    )


async def answer(state: AppState, options: PredictionOptions, data: bytes) -> Answer:
    """The answer to one photo's bytes, kept as ``options`` ask, with its maps and no picture drawn: for callers
    that hold the bytes already and send the maps as numbers (the Open Inference Protocol's tensors)."""
    started = time.perf_counter()
    served, map_class = _checked(state, options)
    return await _answer(state, served, options, map_class, _within(data, state.settings.max_upload_bytes), started)


def _checked(state: AppState, options: PredictionOptions) -> tuple[ServedModel, int | None]:
    """The model and the map's class ``options`` name, refused before the photo is read."""
    served = state.models.pick(options.model)
    if options.keeps(state.settings) and not state.settings.store_photos:
        raise OptionRefused("this server keeps no photos (CAMSERVE_STORE_PHOTOS=false): send store=false")
    return served, class_index(served.metadata.class_names, options.class_name)


async def _answer(
    state: AppState,
    served: ServedModel,
    options: PredictionOptions,
    map_class: int | None,
    data: bytes,
    started: float,
) -> Answer:
    keep = options.keeps(state.settings)
    prediction_id = secrets.token_urlsafe(ID_BYTES)
    mirror, zooming = options.mirrors(state.settings), options.zooms(state.settings)
    async with staged_photo(state.store, prediction_id, data, keep) as staged:
        looked = await _look(state, served, data, mirror, zooming)
        created = time.time()
        classification = classify(looked.answer, served.metadata, looked.width, looked.height, mirror, looked.zoom)
        timings = looked.timings(started, zooming)
        result = None
        if keep:
            expires = state.store.expires_at(created)
            result = PredictionResult(
                **classification.model_dump(),
                id=prediction_id,
                created_at=_iso(created),
                expires_at=None if expires is None else _iso(expires),
                links=Links.for_prediction(prediction_id),
                timings=timings,
            )
            await _keep(state, staged, NewResult(prediction_id, result, data, looked.photo.class_maps, created))
        return Answer(
            classification=classification,
            result=result,
            probabilities=looked.answer.probabilities,
            class_maps=looked.photo.class_maps,
            map_weights=looked.photo.probabilities,
            map_class=map_class,
            created=created,
            timings=timings,
        )


async def _read(upload: Upload, limit: int) -> bytes:
    """The whole upload, refused as soon as it passes ``limit`` bytes."""
    return _within(await upload.read(limit + 1), limit)


def _within(data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise PhotoTooLarge(f"the upload is larger than the limit of {limit:,} bytes")
    return data


async def _look(state: AppState, served: ServedModel, data: bytes, mirror: bool, zooming: bool) -> _Looked:
    """Decode, forward and, if asked, zoom: through the batching queue, each step's end timed. The decode holds
    its bytes of the memory budget (a photo that is no JPEG is decoded at full size)."""
    opened = open_for_model(data, served.metadata, state.settings.max_pixels)
    with (
        await state.memory.reserve(opened.decode_bytes, state.settings.memory_wait_s, "decoding the photo"),
        served.engine.arriving(),
        state.metrics.timed(Stage.decode),
    ):
        prepared = await run_in_threadpool(prepare_opened, opened, served.metadata)
    decoded_at = time.perf_counter()
    # no await between leaving arriving() and submitting: see DynamicBatcher.arriving
    photo = await served.engine.look(prepared.pixels, mirror)
    inferred_at = time.perf_counter()
    zoomed = (
        await zoom_in(state, served, data, prepared, photo, mirror) if zooming else Zoomed(photo.probabilities, Zoom())
    )
    return _Looked(
        photo=photo,
        zoom=zoomed.zoom,
        answer=Prediction(zoomed.probabilities, photo.class_maps),
        width=prepared.width,
        height=prepared.height,
        decoded_at=decoded_at,
        inferred_at=inferred_at,
        zoomed_at=time.perf_counter(),
    )


async def draw(
    state: AppState, photo: bytes, class_maps: np.ndarray, weights: np.ndarray, request: RenderRequest
) -> bytes:
    """A picture of a stored result, as PNG bytes. Its full-size decode can refuse (``PhotoRejected``) what the
    reduced-size one read; raises ``MemoryBusy`` when the memory budget stays full."""
    return await _drawn(state, photo, class_maps, weights, request, _as_is)


def _as_is(png: bytes) -> bytes:
    return png


def _base64(png: bytes) -> str:
    """The inline overlay's text, made on the drawing's thread and inside its reservation (a third more bytes
    than the PNG, twice: the encoded bytes and the string)."""
    return base64.b64encode(png).decode()


async def _drawn(
    state: AppState,
    photo: bytes,
    class_maps: np.ndarray,
    weights: np.ndarray,
    request: RenderRequest,
    encode: Callable[[bytes], _Encoded],
) -> _Encoded:
    """Draw on a request thread, holding the drawing's bytes of the memory budget, and ``encode`` the PNG there."""
    opened = open_photo(photo, state.settings.max_pixels)
    what = f"drawing the {request.picture.value} of a {opened.width}x{opened.height} photo"
    nbytes = picture_bytes(opened, request.picture)
    with await state.memory.reserve(nbytes, state.settings.memory_wait_s, what), state.metrics.timed(Stage.render):
        return await run_in_threadpool(_render_encoded, opened, class_maps, weights, request, state.settings, encode)


def _render_encoded(
    opened: OpenedPhoto,
    class_maps: np.ndarray,
    weights: np.ndarray,
    request: RenderRequest,
    settings: Settings,
    encode: Callable[[bytes], _Encoded],
) -> _Encoded:
    return encode(render_opened(opened, class_maps, weights, request, settings.png_compression))


async def _keep(state: AppState, staged: StagedPhoto, new: NewResult) -> None:
    """Store the result durably, in a group commit with its neighbours, once its photo is staged."""
    with state.metrics.timed(Stage.store):
        await staged.ready()
        await state.committer.put(new)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
