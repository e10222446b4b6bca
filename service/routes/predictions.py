"""POST a photo, GET its result and its pictures, DELETE it."""

import base64
import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from camserve.models.inference.decode import CorruptPhoto, PhotoRejected, PhotoTooLarge, UnsupportedPhoto
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import prepare
from camserve.service.batching import Overloaded, ShuttingDown
from camserve.service.errors import ApiError
from camserve.service.metrics import Stage
from camserve.service.render import Colormap, Picture, RenderRequest, render, select_cam
from camserve.service.results import classify, stored_classes
from camserve.service.schemas import (
    ClassMaps,
    ErrorBody,
    Grid,
    Links,
    PredictionResult,
    Timings,
    UnstoredResult,
    Zoom,
)
from camserve.service.security import require_api_key
from camserve.service.served_models import ServedModel, UnknownModel
from camserve.service.staging import staged_photo
from camserve.service.state import AppState, get_state
from camserve.service.stores import NewResult
from camserve.service.zoom import Zoomed, zoom_in

router = APIRouter(prefix="/predictions", tags=["predictions"])

PICTURE_CACHE = "private, max-age=31536000, immutable"
ID_BYTES = 16  # 128 random bits

_REJECTION_STATUS: dict[type[PhotoRejected], int] = {UnsupportedPhoto: 415, PhotoTooLarge: 413, CorruptPhoto: 422}
Responses = dict[int | str, dict[str, Any]]
_ERRORS: Responses = {code: {"model": ErrorBody} for code in (404, 413, 415, 422, 503)}
_POST_ERRORS: Responses = {code: {"model": ErrorBody} for code in (401, 413, 415, 422, 503)}
RETRY_AFTER_S = "1"

State = Annotated[AppState, Depends(get_state)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _reject(error: PhotoRejected) -> ApiError:
    return ApiError(_REJECTION_STATUS[type(error)], str(error))


Alpha = Annotated[float, Query(ge=0.0, le=1.0, description="Heatmap opacity over the photo.")]
ColormapQuery = Annotated[Colormap, Query(description="Colour scale of the heatmap.")]
ClassQuery = Annotated[
    str | None, Query(alias="class", description="One class's own map; default: the probability-weighted CAM.")
]
TtaQuery = Annotated[
    bool | None,
    Query(description="true: average the photo with its mirror image (serve-time TTA). Default: CAMSERVE_TTA."),
]
ZoomQuery = Annotated[
    bool | None,
    Query(
        description="true: where the heatmap is concentrated, look again at that region of the full-resolution photo "
        "and combine the two answers (CAM-guided zoom; the result's zoom field says if it was used). "
        "Default: CAMSERVE_ZOOM."
    ),
]
BoxQuery = Annotated[
    bool, Query(description="true: outline the zoom's crop on the overlay (nothing to draw when zoom was not used).")
]
ModelQuery = Annotated[
    str | None,
    Query(description="Which served model answers, by name (GET /models lists them). Default: the default model."),
]
StoreQuery = Annotated[
    bool | None,
    Query(
        description="false: keep nothing, and answer with the overlay inline (drawn with alpha, colormap and "
        "class). Default: keep the result, unless the server keeps nothing (CAMSERVE_STORE_PHOTOS=false)."
    ),
]


def _class_index(names: Sequence[str], class_name: str | None) -> int | None:
    """``class_name``'s map among ``names`` (the answering model's classes); 422 for a class it does not have."""
    if class_name is not None and class_name not in names:
        raise ApiError(422, f"unknown class {class_name!r}; choose one of: {', '.join(names)}")
    return None if class_name is None else names.index(class_name)


def _not_found(prediction_id: str) -> ApiError:
    return ApiError(404, f"no prediction with id {prediction_id!r} (it may have been deleted, expired or evicted)")


def _pick(state: AppState, name: str | None) -> ServedModel:
    try:
        return state.models.pick(name)
    except UnknownModel as error:
        raise ApiError(422, str(error)) from error


def _map_weights(result: dict[str, Any]) -> np.ndarray:
    """What a stored result's maps are weighted by, in its model's class order: the probabilities of the forward
    that made them, the whole photo's (after a zoom, the answer combines them with the crop's)."""
    probabilities = result.get("zoom", {}).get("photo_probabilities") or result["probabilities"]
    return np.array([probabilities[name] for name in stored_classes(result)], np.float32)


def _outline(zoom: dict[str, Any], wanted: bool) -> tuple[int, int, int, int] | None:
    """The zoom's crop to draw on the overlay: asked for (?box=true) and there is one."""
    box = zoom.get("box")
    return (box["left"], box["top"], box["right"], box["bottom"]) if wanted and box else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


@router.post(
    "",
    status_code=201,
    response_model=PredictionResult,
    responses={200: {"model": UnstoredResult, "description": "store=false: nothing was kept"}, **_POST_ERRORS},
    dependencies=[Depends(require_api_key)],
)
async def create_prediction(
    state: State,
    file: Annotated[UploadFile, File(description="The photo.")],
    store: StoreQuery = None,
    alpha: Alpha = 0.5,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
    tta: TtaQuery = None,
    zoom: ZoomQuery = None,
    box: BoxQuery = False,
    model: ModelQuery = None,
) -> PredictionResult | JSONResponse:
    started = time.perf_counter()
    served = _pick(state, model)
    metadata = served.metadata
    keep = state.settings.store_photos if store is None else store
    mirror = state.settings.tta if tta is None else tta
    zooming = state.settings.zoom if zoom is None else zoom
    if keep and not state.settings.store_photos:
        raise ApiError(422, "this server keeps no photos (CAMSERVE_STORE_PHOTOS=false): send store=false")
    class_index = _class_index(metadata.class_names, class_name)
    limit = state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the upload is larger than the limit of {limit:,} bytes")
    prediction_id = secrets.token_urlsafe(ID_BYTES)
    async with staged_photo(state.store, prediction_id, data, keep) as staged:
        try:
            with served.engine.arriving(), state.metrics.timed(Stage.decode):
                prepared = await run_in_threadpool(prepare, data, metadata, state.settings.max_pixels)
        except PhotoRejected as error:
            raise _reject(error) from error
        decoded_at = time.perf_counter()
        try:
            # no await between leaving arriving() and submitting: see DynamicBatcher.arriving
            photo = await served.engine.look(prepared.pixels, mirror)
            inferred_at = time.perf_counter()
            zoomed = (
                await zoom_in(state, served, data, prepared, photo, mirror)
                if zooming
                else Zoomed(photo.probabilities, Zoom())
            )
        except Overloaded as error:
            state.metrics.rejected.inc()
            busy = f"the server is busy: {error}; try again shortly"
            raise ApiError(503, busy, {"Retry-After": RETRY_AFTER_S}) from error
        except ShuttingDown as error:
            raise ApiError(503, f"{error}; send the photo again to another replica or after the restart") from error
        except PhotoRejected as error:  # the zoom's decode at full size can refuse what the reduced-size one read
            raise _reject(error) from error
        zoomed_at = time.perf_counter()

        created = time.time()
        answer = Prediction(zoomed.probabilities, photo.class_maps)
        classification = classify(answer, metadata, prepared.width, prepared.height, mirror, zoomed.zoom).model_dump()
        timings = Timings(
            decode_ms=_ms(decoded_at - started),
            inference_ms=_ms(inferred_at - decoded_at),
            zoom_ms=_ms(zoomed_at - inferred_at) if zooming else 0.0,
            total_ms=_ms(time.perf_counter() - started),
        )
        if not keep:
            outline = _outline(classification["zoom"], box)
            overlay = RenderRequest(Picture.overlay, alpha, colormap, class_index, outline)
            try:  # the full-size decode can refuse what the reduced-size one read, as a GET's picture can
                with state.metrics.timed(Stage.render):
                    png = await run_in_threadpool(
                        render,
                        data,
                        photo.class_maps,
                        photo.probabilities,
                        overlay,
                        state.settings.max_pixels,
                        state.settings.png_compression,
                    )
            except PhotoRejected as error:
                raise _reject(error) from error
            unstored = UnstoredResult(
                **classification, created_at=_iso(created), overlay_png=base64.b64encode(png).decode(), timings=timings
            )
            return JSONResponse(unstored.model_dump(mode="json"), status_code=200)

        base = f"/predictions/{prediction_id}"
        expires = state.store.expires_at(created)
        result = PredictionResult(
            **classification,
            id=prediction_id,
            created_at=_iso(created),
            expires_at=None if expires is None else _iso(expires),
            links=Links(self=base, overlay=f"{base}/overlay.png", heatmap=f"{base}/heatmap.png"),
            timings=timings,
        )
        body = result.model_dump(mode="json")
        with state.metrics.timed(Stage.store):
            await staged.ready()
            await state.committer.put(NewResult(prediction_id, body, data, photo.class_maps, created))
        # The body is already validated and in JSON form: answer it as it is, not validated a second time.
        return JSONResponse(body, status_code=201, headers={"Location": base})


@router.get("/{prediction_id}", response_model=PredictionResult, responses=_ERRORS)
async def read_prediction(state: State, prediction_id: str) -> PredictionResult:
    result = await run_in_threadpool(state.store.get_result, prediction_id)
    if result is None:
        raise _not_found(prediction_id)
    return PredictionResult.model_validate(result)


@router.get("/{prediction_id}/maps", response_model=ClassMaps, responses=_ERRORS)
async def read_maps(state: State, prediction_id: str) -> ClassMaps:
    """The class maps as numbers, the normalised CAM the overlay draws, and how cells lie on the photo. After a
    zoom they are the whole photo's maps, weighted by its own probabilities (the result's zoom field)."""
    stored = await run_in_threadpool(state.store.get_maps, prediction_id)
    if stored is None:
        raise _not_found(prediction_id)
    result, class_maps = stored
    _, height, width = class_maps.shape
    return ClassMaps(
        classes=stored_classes(result),
        class_maps=class_maps.tolist(),
        cam=select_cam(class_maps, _map_weights(result), None).tolist(),
        grid=Grid(
            height=height,
            width=width,
            cell_height=result["height"] / height,
            cell_width=result["width"] / width,
        ),
    )


@router.delete(
    "/{prediction_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorBody}, 401: {"model": ErrorBody}},
    dependencies=[Depends(require_api_key)],
)
async def delete_prediction(state: State, prediction_id: str) -> Response:
    """Delete the result, its photo and its maps for good, and every picture drawn from them."""
    if not await run_in_threadpool(state.store.delete, prediction_id):
        raise _not_found(prediction_id)
    state.forget_pictures([prediction_id])
    return Response(status_code=204)


async def _picture(
    state: AppState,
    request: Request,
    prediction_id: str,
    picture: Picture,
    alpha: float,
    colormap: Colormap,
    class_name: str | None,
    box: bool = False,
) -> Response:
    # The class is checked against the result's own model once the result is read; only a checked one is cached.
    key = (prediction_id, picture.value, round(alpha, 3), colormap.value, class_name, box)
    etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
    # private: a shared cache must not keep a copy that outlives a DELETE or the retention.
    headers = {"Cache-Control": PICTURE_CACHE, "ETag": etag}
    png = state.rendered.get(key)
    # A cached picture is served only while its result can still be read: a DELETE on another replica or an
    # expiry must end it too.
    if png is not None and not await run_in_threadpool(state.store.exists, prediction_id):
        state.forget_pictures([prediction_id])
        png = None
    if png is not None and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if png is None:
        stored = await run_in_threadpool(state.store.get, prediction_id)
        if stored is None:
            raise _not_found(prediction_id)
        class_index = _class_index(stored_classes(stored.result), class_name)
        outline = _outline(stored.result.get("zoom", {}), box)
        render_request = RenderRequest(picture, alpha, colormap, class_index, outline)
        try:
            with state.metrics.timed(Stage.render):
                png = await run_in_threadpool(
                    render,
                    stored.photo,
                    stored.class_maps,
                    _map_weights(stored.result),
                    render_request,
                    state.settings.max_pixels,
                    state.settings.png_compression,
                )
        except PhotoRejected as error:
            raise _reject(error) from error
        state.rendered[key] = png
    return Response(png, media_type="image/png", headers=headers)


_PNG: Responses = {200: {"content": {"image/png": {}}, "description": "PNG image"}, **_ERRORS}


@router.get("/{prediction_id}/overlay.png", response_class=Response, responses=_PNG)
async def overlay(
    state: State,
    request: Request,
    prediction_id: str,
    alpha: Alpha = 0.5,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
    box: BoxQuery = False,
) -> Response:
    return await _picture(state, request, prediction_id, Picture.overlay, alpha, colormap, class_name, box)


@router.get("/{prediction_id}/heatmap.png", response_class=Response, responses=_PNG)
async def heatmap(
    state: State,
    request: Request,
    prediction_id: str,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
) -> Response:
    return await _picture(state, request, prediction_id, Picture.heatmap, 0.0, colormap, class_name)
