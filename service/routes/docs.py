"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, with their scripts, styles and icon
served by the app itself, so they work offline: FastAPI's own pages load them from a CDN and are blank without one.

The files are fastapi-offline's (a maintained package that ships Swagger UI 5, which reads OpenAPI 3.1, and ReDoc 2
in its wheel); the pages are FastAPI's, pointed at them, as FastAPI documents for self-hosting the docs' assets.
"""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from camserve.service.routes.page import PageStaticFiles

ASSETS_PATH = "/docs/assets"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root_path(request)
    return get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root_path(request)
    return get_redoc_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )


def assets() -> PageStaticFiles:
    """The files the pages load, straight from the installed package (revalidated, as the page's own files are,
    so a new release reaches browsers promptly)."""
    return PageStaticFiles(packages=[("fastapi_offline", "static")])


def _root_path(request: Request) -> str:
    """Behind a proxy that serves the app under a prefix (uvicorn's --root-path), as FastAPI's own pages do."""
    return str(request.scope.get("root_path", "")).rstrip("/")
