"""The photo of a POST, from either body a client may send: a multipart form's field ``file``, or the photo's
bytes as the whole body (``image/*``, ``application/octet-stream``), which spares both sides the multipart
encoding, its parsing and the spooled file."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect, Request

from camserve.service.errors import ApiError
from camserve.service.pipeline import Upload

FIELD = "file"
FORM = "multipart/form-data"
OCTET_STREAM = "application/octet-stream"  # also what a body without a Content-Type is taken for (RFC 9110 8.3)
# One photo a form: a few stray parts are still answered (the field's last part counts), a thousand are not spooled.
MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 16

_BINARY = {"schema": {"type": "string", "format": "binary"}}
# The route's OpenAPI request body: FastAPI cannot derive it, as the route reads the body itself.
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {
                    FIELD: {"type": "string", "contentMediaType": OCTET_STREAM, "description": "The photo."}
                },
                "required": [FIELD],
            }
        },
        "image/*": _BINARY,
        OCTET_STREAM: _BINARY,
    },
}


class RawBody:
    """The request body as an ``Upload``, read from the socket only as far as asked: the pipeline asks for one
    byte over the size limit, so an oversized body is refused there, not buffered whole first."""

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream()
        self._pending = bytearray()

    async def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        end = len(self._pending) if size < 0 else min(size, len(self._pending))
        with memoryview(self._pending) as view:
            data = bytes(view[:end])
        del self._pending[:end]
        return data


@asynccontextmanager
async def uploaded_photo(request: Request) -> AsyncIterator[Upload]:
    """The POST's photo by the body's Content-Type; 415 for a body of any other type, 422 for a form without the
    file. A form's spooled files are closed on leaving."""
    media_type = request.headers.get("content-type", OCTET_STREAM).partition(";")[0].strip().lower()
    try:
        if media_type == FORM:
            async with request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS) as form:
                yield _form_file(form)
        elif media_type.startswith("image/") or media_type == OCTET_STREAM:
            yield RawBody(request)
        else:
            raise ApiError(
                415,
                f"a photo is sent as {FORM} (in the field {FIELD!r}) or as the whole body with Content-Type "
                f"image/* or {OCTET_STREAM}, not {media_type!r}",
            )
    except ClientDisconnect as error:
        raise ApiError(400, "the client went away before the whole body arrived") from error


def _form_file(form: FormData) -> UploadFile:
    value = form.get(FIELD)
    if value is None:
        raise ApiError(422, f"missing required field {FIELD!r}")
    if not isinstance(value, UploadFile):
        raise ApiError(422, f"the field {FIELD!r} is text, not a file: send the photo as a file part")
    return value
