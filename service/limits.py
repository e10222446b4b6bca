"""Refuse oversized request bodies before they are parsed or spooled to disk."""

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from camserve.service.errors import error_body

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file itself


class BodySizeLimit:
    """ASGI middleware: 413 at once for a declared Content-Length over the limit, and mid-stream for
    chunked bodies that grow past it, so a client cannot make the server buffer unbounded data."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_413(send, self.max_body_bytes, scope["path"])
            return
        received = 0
        exceeded = False  # the body grew past the limit; the app's own answer to that is replaced
        app_started = False  # the app began its response before the limit was hit: too late to replace
        replaced = False  # the 413 went out in place of the app's response

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise HTTPException(413, f"the request body is larger than {self.max_body_bytes:,} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app makes of the aborted body is not trusted to be a 413: FastAPI turns errors
            # raised while parsing a form into 400, and BaseHTTPMiddleware wraps them in ExceptionGroups.
            nonlocal app_started, replaced
            if replaced:
                return
            if exceeded and not app_started:
                replaced = True
                await _send_413(send, self.max_body_bytes, scope["path"])
                return
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or app_started:
                raise
            if not replaced:
                await _send_413(send, self.max_body_bytes, scope["path"])


async def _send_413(send: Send, limit: int, path: str) -> None:
    body = json.dumps(error_body(path, f"the request body is larger than the limit of {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
