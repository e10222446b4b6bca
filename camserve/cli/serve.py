"""``camserve serve``: the HTTP service, configured by ``CAMSERVE_*`` variables."""

import argparse
from typing import Any

import uvicorn

from camserve.models.runtimes import load_predictor
from camserve.service.app import create_app
from camserve.service.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    predictor = load_predictor(settings.backend, settings.runtime_request())  # a bad checkpoint fails before binding
    uvicorn.run(
        create_app(settings, predictor),
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        log_level="info",
    )
    return 0


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service (settings from CAMSERVE_* variables)")
    serve.add_argument("--host", help="interface to listen on (default: CAMSERVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: CAMSERVE_PORT or 8000)")
    serve.set_defaults(handler=run)
