"""Headers every answer carries, whoever sends it: added in one place, outside everything else (``app.py``)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EVERY_RESPONSE", "ResponseHeaders"]

# Browsers take each answer's Content-Type at its word: a JSON error or a PNG is never run as a script or
# shown as a page, whatever its bytes look like.
EVERY_RESPONSE: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)


class ResponseHeaders:
    """Pure ASGI middleware: adds ``EVERY_RESPONSE`` to each ``http.response.start`` that lacks them. It wraps the
    whole app, Starlette's error middleware included, so the answers other middleware send themselves (the 413
    of ``BodySizeLimit``, the 500 for an unexpected error) carry them too. The connection guard's refusals, sent
    below the app, add the same headers (``connections.py``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in EVERY_RESPONSE if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
