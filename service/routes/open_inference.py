"""The Open Inference Protocol v2 (KServe v2) under ``/v2``, beside camserve's own API, for every served model.

HTTP mapped to the protocol's codec and the POST's own pipeline, and back: each photo of a request is answered
by ``pipeline.answer`` (decode limits, batching, memory budget, metrics, stored or not), all of them at once so
they share forwards. Errors answer ``{"error": ...}`` (``service/errors.py``).
"""

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from camserve import __version__
from camserve.models.inference.decode import CorruptPhoto, PhotoRejected, PhotoTooLarge, UnsupportedPhoto
from camserve.service.batching import Overloaded, ShuttingDown
from camserve.service.errors import OPEN_INFERENCE_PREFIX, ApiError
from camserve.service.memory_budget import MemoryBusy
from camserve.service.open_inference import signature
from camserve.service.open_inference.codec import (
    BINARY_TENSOR_DATA,
    HEADER_LENGTH,
    BadRequest,
    encode_response,
    read_request,
    wanted_outputs,
)
from camserve.service.open_inference.messages import (
    ErrorResponse,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    inference_request_schema,
)
from camserve.service.pictures import UnknownClass
from camserve.service.pipeline import Answer, OptionRefused, PredictionOptions, answer
from camserve.service.routes.health import readiness
from camserve.service.routes.predictions import busy
from camserve.service.security import require_api_key
from camserve.service.served_models import ServedModel, UnknownModel
from camserve.service.state import AppState, get_state

router = APIRouter(prefix=OPEN_INFERENCE_PREFIX, tags=["open inference protocol"])

State = Annotated[AppState, Depends(get_state)]
Responses = dict[int | str, dict[str, Any]]

# A photo the decoder cannot read is a bad request in the protocol's terms; the POST answers 422.
_REJECTION_STATUS: dict[type[PhotoRejected], int] = {UnsupportedPhoto: 415, PhotoTooLarge: 413, CorruptPhoto: 400}


def _errors(*codes: int) -> Responses:
    return {code: {"model": ErrorResponse} for code in codes}


_NOT_READY: Responses = {503: {"model": ModelReady, "description": "Not ready"}}
_INFER: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, or JSON followed by binary tensor data: then the Inference-Header-Content-Length "
        "header gives the JSON's length and each binary input its binary_data_size.",
        "content": {
            "application/json": {"schema": inference_request_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_INFER_RESPONSES: Responses = {
    200: {
        "description": "JSON, or (when binary outputs were asked for) JSON followed by binary tensor data, its "
        "length in the Inference-Header-Content-Length header",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    **_errors(400, 401, 404, 413, 415, 503),
}


@router.get("", response_model=ServerMetadata)
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(name="camserve", version=__version__, extensions=[BINARY_TENSOR_DATA])


@router.get("/health/live", response_model=ServerLive)
async def server_live() -> ServerLive:
    """The process is up and answering, like /healthz."""
    return ServerLive(live=True)


@router.get("/health/ready", response_model=ServerReady, responses={503: {"model": ServerReady}})
async def server_ready(state: State) -> JSONResponse:
    """Ready exactly when /readyz is: every model warmed up, the store reachable and writable."""
    ready = (await readiness(state)).ready
    return JSONResponse(ServerReady(ready=ready).model_dump(), status_code=200 if ready else 503)


@router.get("/models/{name}", response_model=ModelMetadata, responses=_errors(404))
async def model_metadata(state: State, name: str) -> ModelMetadata:
    """Inputs and outputs; without ``outputs``, an inference answers probabilities and label."""
    return _metadata(_model(state, name))


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=_errors(404))
async def model_version_metadata(state: State, name: str, version: str) -> ModelMetadata:
    return _metadata(_model(state, name, version))


@router.get("/models/{name}/ready", response_model=ModelReady, responses={**_errors(404), **_NOT_READY})
async def model_ready(state: State, name: str) -> JSONResponse:
    return _ready(_model(state, name))


@router.get(
    "/models/{name}/versions/{version}/ready", response_model=ModelReady, responses={**_errors(404), **_NOT_READY}
)
async def model_version_ready(state: State, name: str, version: str) -> JSONResponse:
    return _ready(_model(state, name, version))


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses=_INFER_RESPONSES,
    openapi_extra=_INFER,
    dependencies=[Depends(require_api_key)],
)
async def infer(state: State, request: Request, name: str) -> Response:
    """Photos in one BYTES input ``photo``; parameters ``class``, ``tta``, ``zoom`` and ``store`` as the POST's
    options. Each photo is answered, and kept or not, as a POST of it would be."""
    return await _infer(state, request, _model(state, name))


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    responses=_INFER_RESPONSES,
    openapi_extra=_INFER,
    dependencies=[Depends(require_api_key)],
)
async def infer_version(state: State, request: Request, name: str, version: str) -> Response:
    return await _infer(state, request, _model(state, name, version))


def _model(state: AppState, name: str, version: str | None = None) -> ServedModel:
    try:
        model = state.models.pick(name)
    except UnknownModel as error:
        raise ApiError(404, str(error)) from error
    if version is not None and version != model.metadata.version:
        raise ApiError(404, f"model {name!r} has no version {version!r}; it serves {model.metadata.version}")
    return model


def _metadata(model: ServedModel) -> ModelMetadata:
    return signature.metadata(
        model.name,
        model.metadata.version,
        f"camserve_{model.engine.predictor.runtime}",
        model.metadata.num_classes,
        model.engine.map_grid,
    )


def _ready(model: ServedModel) -> JSONResponse:
    ready = model.engine.ready
    return JSONResponse(ModelReady(name=model.name, ready=ready).model_dump(), status_code=200 if ready else 503)


async def _infer(state: AppState, request: Request, model: ServedModel) -> Response:
    if request.headers.get("content-encoding", "identity") != "identity":
        raise ApiError(415, "send the request uncompressed")
    body = await request.body()
    try:
        read = read_request(body, request.headers.get(HEADER_LENGTH))
        photos = signature.photos(read)
        wanted = wanted_outputs(read.request, signature.DEFAULT_OUTPUTS)
        signature.check_outputs(wanted)
        options = signature.options(read.request.parameters, model.name)
    except BadRequest as error:
        raise ApiError(400, str(error)) from error
    answers = await _answer_all(state, options, photos)
    outputs = [(signature.output(output.name, answers), output.binary) for output in wanted]
    encoded = encode_response(model.name, model.metadata.version, read.request.id, outputs)
    if encoded.header_length is None:
        return Response(encoded.body, media_type="application/json")
    headers = {HEADER_LENGTH: str(encoded.header_length)}
    return Response(encoded.body, media_type="application/octet-stream", headers=headers)


async def _answer_all(state: AppState, options: PredictionOptions, photos: Sequence[bytes]) -> list[Answer]:
    """Every photo answered, or none: when one is refused, the others' stored results are deleted, so a
    failed request leaves nothing behind, and the first refusal in the photos' order is the answer."""
    outcomes = await asyncio.gather(*(answer(state, options, photo) for photo in photos), return_exceptions=True)
    answers = [outcome for outcome in outcomes if isinstance(outcome, Answer)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if not refusals:
        return answers
    await _delete(state, [answer.result.id for answer in answers if answer.result is not None])
    first = refusals[0]
    refusal = _refusal(state, first)
    if refusal is None:
        raise first
    raise refusal from first


async def _delete(state: AppState, prediction_ids: list[str]) -> None:
    for prediction_id in prediction_ids:
        await run_in_threadpool(state.store.delete, prediction_id)
    state.forget_pictures(prediction_ids)


def _refusal(state: AppState, error: BaseException) -> ApiError | None:
    """The answer to a photo's refusal, as the POST's, in the protocol's codes; None for anything else (a store
    outage, a bug), which goes on as it is."""
    if isinstance(error, OptionRefused | UnknownClass):
        return ApiError(400, str(error))
    if isinstance(error, PhotoRejected):
        return ApiError(_REJECTION_STATUS[type(error)], str(error))
    if isinstance(error, Overloaded):
        if not isinstance(error, MemoryBusy):  # the budget counts its own (camserve_memory_wait_seconds)
            state.metrics.rejected.inc()
        return busy(error)
    if isinstance(error, ShuttingDown):
        return ApiError(503, f"{error}; send the photos again to another replica or after the restart")
    return None
