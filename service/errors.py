"""Every client-visible failure is an ``ApiError``: a status and a plain message, rendered as JSON: as
``{"detail": ...}`` on camserve's own API, as ``{"error": ...}`` under ``/v2``, the Open Inference Protocol's."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from camserve.service.stores import StoreUnavailable

log = logging.getLogger("camserve")

# An outage of the database or the bucket: a restart or fail-over takes seconds; /readyz says when it is over.
STORE_RETRY_AFTER_S = "2"
OPEN_INFERENCE_PREFIX = "/v2"


class ApiError(Exception):
    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def error_body(path: str, message: str) -> dict[str, str]:
    """The protocol's clients (tritonclient, KServe's) read an error's message from "error" and fail on any other
    body; camserve's own API keeps FastAPI's "detail"."""
    speaks_protocol = path == OPEN_INFERENCE_PREFIX or path.startswith(OPEN_INFERENCE_PREFIX + "/")
    return {"error" if speaks_protocol else "detail": message}


def _error_response(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(request.url.path, message), status_code=status_code, headers=headers)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        if item.get("type") == "missing" and where:
            parts.append(f"missing required field '{where}'")
        else:
            parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error_response(request, error.status_code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error_response(request, 422, _describe_validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error_response(request, error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, error: StoreUnavailable) -> JSONResponse:
        log.warning("camserve: the store cannot be reached: %s", error)
        message = "results cannot be stored or read right now; nothing was stored by this request; retry shortly"
        return _error_response(request, 503, message, {"Retry-After": STORE_RETRY_AFTER_S})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, _error: Exception) -> JSONResponse:
        return _error_response(request, 500, "internal error; the request was not processed")
