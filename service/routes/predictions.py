"""POST a photo, GET its result and its pictures, DELETE it: HTTP mapped to the pipeline and the store, and back."""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from camserve.models.inference.decode import CorruptPhoto, PhotoRejected, PhotoTooLarge, UnsupportedPhoto
from camserve.service.batching import Overloaded, ShuttingDown
from camserve.service.errors import ApiError
from camserve.service.memory_budget import MemoryBusy
from camserve.service.pictures import UnknownClass, class_index, given_class, map_weights, outline
from camserve.service.pipeline import OptionRefused, PredictionOptions, draw, predict
from camserve.service.render import Colormap, Picture, RenderRequest, select_cam
from camserve.service.results import stored_classes
from camserve.service.schemas import ClassMaps, ErrorBody, Grid, PredictionResult, UnstoredResult
from camserve.service.security import require_api_key
from camserve.service.served_models import UnknownModel
from camserve.service.state import AppState, get_state
from camserve.service.uploads import REQUEST_BODY, uploaded_photo

router = APIRouter(prefix="/predictions", tags=["predictions"])

PICTURE_CACHE = "private, max-age=31536000, immutable"

_REJECTION_STATUS: dict[type[PhotoRejected], int] = {UnsupportedPhoto: 415, PhotoTooLarge: 413, CorruptPhoto: 422}
Responses = dict[int | str, dict[str, Any]]
_ERRORS: Responses = {code: {"model": ErrorBody} for code in (404, 413, 415, 422, 503)}
_POST_ERRORS: Responses = {code: {"model": ErrorBody} for code in (401, 413, 415, 422, 503)}
RETRY_AFTER_S = "1"

State = Annotated[AppState, Depends(get_state)]


def _reject(error: PhotoRejected) -> ApiError:
    return ApiError(_REJECTION_STATUS[type(error)], str(error))


def busy(error: Overloaded) -> ApiError:
    """A full queue or a full memory budget: both pass in a moment, so the client is told when to retry."""
    return ApiError(503, f"the server is busy: {error}; try again shortly", {"Retry-After": RETRY_AFTER_S})


Alpha = Annotated[float, Query(ge=0.0, le=1.0, description="Heatmap opacity over the photo.")]
ColormapQuery = Annotated[Colormap, Query(description="Colour scale of the heatmap.")]
ClassQuery = Annotated[
    str | None,
    AfterValidator(given_class),
    Query(alias="class", description="One class's own map; default (or empty): the probability-weighted CAM."),
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


async def prediction_options(
    store: StoreQuery = None,
    alpha: Alpha = 0.5,
    colormap: ColormapQuery = Colormap.jet,
    class_name: ClassQuery = None,
    tta: TtaQuery = None,
    zoom: ZoomQuery = None,
    box: BoxQuery = False,
    model: ModelQuery = None,
) -> PredictionOptions:
    """The POST's query parameters as one object. Async: FastAPI runs a plain-def dependency on the thread pool."""
    return PredictionOptions(store, alpha, colormap, class_name, tta, zoom, box, model)


def _class_index(names: list[str], class_name: str | None) -> int | None:
    try:
        return class_index(names, class_name)
    except UnknownClass as error:
        raise ApiError(422, str(error)) from error


def _not_found(prediction_id: str) -> ApiError:
    return ApiError(404, f"no prediction with id {prediction_id!r} (it may have been deleted, expired or evicted)")


@router.post(
    "",
    status_code=201,
    response_model=PredictionResult,
    responses={200: {"model": UnstoredResult, "description": "store=false: nothing was kept"}, **_POST_ERRORS},
    dependencies=[Depends(require_api_key)],
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def create_prediction(
    state: State,
    request: Request,
    options: Annotated[PredictionOptions, Depends(prediction_options)],
) -> PredictionResult | JSONResponse:
    """The photo as a multipart form's field ``file``, or as the whole body (``image/*``,
    ``application/octet-stream``)."""
    try:
        async with uploaded_photo(request) as upload:
            outcome = await predict(state, options, upload)
    except (UnknownModel, OptionRefused, UnknownClass) as error:
        raise ApiError(422, str(error)) from error
    except PhotoRejected as error:
        raise _reject(error) from error
    except Overloaded as error:
        if not isinstance(error, MemoryBusy):  # the budget counts its own (camserve_memory_wait_seconds)
            state.metrics.rejected.inc()
        raise busy(error) from error
    except ShuttingDown as error:
        raise ApiError(503, f"{error}; send the photo again to another replica or after the restart") from error
    # Answered as validated, in JSON form, not validated a second time by the response model.
    if isinstance(outcome, UnstoredResult):
        return JSONResponse(outcome.model_dump(mode="json"), status_code=200)
    return JSONResponse(outcome.model_dump(mode="json"), status_code=201, headers={"Location": outcome.links.self})


@router.get("/{prediction_id}", response_model=PredictionResult, responses=_ERRORS)
async def read_prediction(state: State, prediction_id: str) -> PredictionResult:
    result = await run_in_threadpool(state.store.get_result, prediction_id)
    if result is None:
        raise _not_found(prediction_id)
    return result


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
        cam=select_cam(class_maps, map_weights(result), None).tolist(),
        grid=Grid(height=height, width=width, cell_height=result.height / height, cell_width=result.width / width),
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
        with state.rendered.drawing(prediction_id) as drawing:  # before the store is read: see PictureCache
            stored = await run_in_threadpool(state.store.get, prediction_id)
            if stored is None:
                raise _not_found(prediction_id)
            index = _class_index(stored_classes(stored.result), class_name)
            render_request = RenderRequest(picture, alpha, colormap, index, outline(stored.result.zoom, box))
            try:
                png = await draw(state, stored.photo, stored.class_maps, map_weights(stored.result), render_request)
            except PhotoRejected as error:
                raise _reject(error) from error
            except MemoryBusy as error:
                raise busy(error) from error
            state.rendered.keep(drawing, key, png)
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
