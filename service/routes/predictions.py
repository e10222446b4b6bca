"""POST a photo, GET its result and its pictures."""

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from camserve.models.decode import CorruptPhoto, PhotoRejected, PhotoTooLarge, UnsupportedPhoto
from camserve.models.preprocess import prepare
from camserve.service.batching import Overloaded, ShuttingDown
from camserve.service.errors import ApiError
from camserve.service.metrics import Stage
from camserve.service.render import Colormap, Picture, RenderRequest, render
from camserve.service.results import classify
from camserve.service.schemas import ErrorBody, Links, PredictionResult, Timings
from camserve.service.security import require_api_key
from camserve.service.state import AppState, get_state

router = APIRouter(prefix="/predictions", tags=["predictions"])

IMMUTABLE = "public, max-age=31536000, immutable"
ID_BYTES = 16  # 128 random bits

_REJECTION_STATUS: dict[type[PhotoRejected], int] = {UnsupportedPhoto: 415, PhotoTooLarge: 413, CorruptPhoto: 422}
Responses = dict[int | str, dict[str, Any]]
_ERRORS: Responses = {code: {"model": ErrorBody} for code in (404, 413, 415, 422)}
_POST_ERRORS: Responses = {code: {"model": ErrorBody} for code in (401, 413, 415, 422, 503)}
RETRY_AFTER_S = "1"

State = Annotated[AppState, Depends(get_state)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _reject(error: PhotoRejected) -> ApiError:
    return ApiError(_REJECTION_STATUS[type(error)], str(error))


@router.post(
    "",
    status_code=201,
    response_model=PredictionResult,
    responses=_POST_ERRORS,
    dependencies=[Depends(require_api_key)],
)
async def create_prediction(
    state: State, response: Response, file: Annotated[UploadFile, File(description="The photo.")]
) -> PredictionResult:
    started = time.perf_counter()
    limit = state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the upload is larger than the limit of {limit:,} bytes")
    try:
        with state.engine.arriving(), state.metrics.timed(Stage.decode):
            prepared = await run_in_threadpool(prepare, data, state.metadata, state.settings.max_pixels)
    except PhotoRejected as error:
        raise _reject(error) from error
    decoded_at = time.perf_counter()
    try:  # no await between leaving arriving() and submitting: see DynamicBatcher.arriving
        prediction = await state.engine.predict(prepared.pixels)
    except Overloaded as error:
        state.metrics.rejected.inc()
        busy = f"the server is busy: {error}; try again shortly"
        raise ApiError(503, busy, {"Retry-After": RETRY_AFTER_S}) from error
    except ShuttingDown as error:
        raise ApiError(503, f"{error}; send the photo again to another replica or after the restart") from error
    inferred_at = time.perf_counter()

    prediction_id = secrets.token_urlsafe(ID_BYTES)
    base = f"/predictions/{prediction_id}"
    result = PredictionResult(
        **classify(prediction, state.metadata, prepared.width, prepared.height).model_dump(),
        id=prediction_id,
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        links=Links(self=base, overlay=f"{base}/overlay.png", heatmap=f"{base}/heatmap.png"),
        timings=Timings(
            decode_ms=_ms(decoded_at - started),
            inference_ms=_ms(inferred_at - decoded_at),
            total_ms=_ms(time.perf_counter() - started),
        ),
    )
    with state.metrics.timed(Stage.store):
        await run_in_threadpool(
            state.store.put, prediction_id, result.model_dump(mode="json"), data, prediction.class_maps
        )
    response.headers["Location"] = base
    return result


@router.get("/{prediction_id}", response_model=PredictionResult, responses=_ERRORS)
async def read_prediction(state: State, prediction_id: str) -> PredictionResult:
    result = await run_in_threadpool(state.store.get_result, prediction_id)
    if result is None:
        raise ApiError(404, f"no prediction with id {prediction_id!r} (it may have been evicted)")
    return PredictionResult.model_validate(result)


async def _picture(
    state: AppState,
    request: Request,
    prediction_id: str,
    picture: Picture,
    alpha: float,
    colormap: Colormap,
    class_name: str | None,
) -> Response:
    names = state.metadata.class_names
    if class_name is not None and class_name not in names:
        raise ApiError(422, f"unknown class {class_name!r}; choose one of: {', '.join(names)}")
    class_index = None if class_name is None else names.index(class_name)
    key = (prediction_id, picture.value, round(alpha, 3), colormap.value, class_index)
    etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if request.headers.get("if-none-match") == etag and key in state.rendered:
        return Response(status_code=304, headers=headers)
    png = state.rendered.get(key)
    if png is None:
        stored = await run_in_threadpool(state.store.get, prediction_id)
        if stored is None:
            raise ApiError(404, f"no prediction with id {prediction_id!r} (it may have been evicted)")
        probabilities = np.array([stored.result["probabilities"][n] for n in names], dtype=np.float32)
        render_request = RenderRequest(picture, alpha, colormap, class_index)
        try:
            with state.metrics.timed(Stage.render):
                png = await run_in_threadpool(
                    render,
                    stored.photo,
                    stored.class_maps,
                    probabilities,
                    render_request,
                    state.settings.max_pixels,
                    state.settings.png_compression,
                )
        except PhotoRejected as error:
            raise _reject(error) from error
        state.rendered[key] = png
    return Response(png, media_type="image/png", headers=headers)


Alpha = Annotated[float, Query(ge=0.0, le=1.0, description="Heatmap opacity over the photo.")]
ColormapQuery = Annotated[Colormap, Query(description="Colour scale of the heatmap.")]
ClassQuery = Annotated[
    str | None, Query(alias="class", description="One class's own map; default: the probability-weighted CAM.")
]
_PNG: Responses = {200: {"content": {"image/png": {}}, "description": "PNG image"}, **_ERRORS}


@router.get("/{prediction_id}/overlay.png", response_class=Response, responses=_PNG)
async def overlay(
    state: State,
    request: Request,
    prediction_id: str,
    alpha: Alpha = 0.5,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
) -> Response:
    return await _picture(state, request, prediction_id, Picture.overlay, alpha, colormap, class_name)


@router.get("/{prediction_id}/heatmap.png", response_class=Response, responses=_PNG)
async def heatmap(
    state: State,
    request: Request,
    prediction_id: str,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
) -> Response:
    return await _picture(state, request, prediction_id, Picture.heatmap, 0.0, colormap, class_name)
