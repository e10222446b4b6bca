"""Every client-visible failure is an ``ApiError``: a status and a plain message, rendered as JSON."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from camserve.service.stores import StoreUnavailable

log = logging.getLogger("camserve")

# An outage of the database or the bucket: a restart or fail-over takes seconds; /readyz says when it is over.
STORE_RETRY_AFTER_S = "2"


class ApiError(Exception):
    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def _error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status_code, headers=headers)


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
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return _error_response(error.status_code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        return _error_response(422, _describe_validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error_response(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_request: Request, error: StoreUnavailable) -> JSONResponse:
        log.warning("camserve: the store cannot be reached: %s", error)
        message = "results cannot be stored or read right now; nothing was stored by this request; retry shortly"
        return _error_response(503, message, {"Retry-After": STORE_RETRY_AFTER_S})

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, _error: Exception) -> JSONResponse:
        return _error_response(500, "internal error; the request was not processed")
