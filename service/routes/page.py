"""The web page for people: ``GET /`` and its static files, all served by the app itself (works offline)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent.parent / "static"

# The page loads nothing from elsewhere, so the policy can be 'self' only; blob: and data: are for the
# local preview of the chosen photo. X-Content-Type-Options comes with every answer (service/headers.py).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Not immutable: the file names carry no version, so a new release must reach browsers promptly.
STATIC_CACHE = "no-cache"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS | {"Cache-Control": STATIC_CACHE})


class PageStaticFiles(StaticFiles):
    """The page's scripts and styles (nosniff, as on every answer, so a browser never runs them as anything else)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = STATIC_CACHE
        return response


def static_files() -> PageStaticFiles:
    return PageStaticFiles(directory=STATIC)
