"""``camserve serve``: the HTTP service, configured by ``CAMSERVE_*`` variables."""

import argparse
import copy
import logging
import resource
from typing import Any

import uvicorn

from camserve.service.app import create_app
from camserve.service.connections import ConnectionLimits, guarded_protocol
from camserve.service.metrics import Metrics
from camserve.service.served_models import load_models
from camserve.service.settings import Settings

log = logging.getLogger("camserve")

# File descriptors beyond the connections: the store, the model's files, libraries, the listening socket.
SPARE_FILES = 256


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_head_bytes=settings.max_head_bytes,
        head_timeout_s=settings.head_timeout_s,
        body_min_bytes_per_s=settings.body_min_bytes_per_s,
        body_grace_s=settings.body_grace_s,
        max_connections=settings.max_connections,
    )


def ensure_open_files(needed: int) -> None:
    """Raise the soft limit on open files towards ``needed`` (the hard limit allows it without privileges);
    if even the hard limit is lower, say so: past it, new connections fail before the cap can answer 503."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("camserve: only %d open files allowed; CAMSERVE_MAX_CONNECTIONS needs about %d", soft, needed)


def log_config() -> dict[str, Any]:
    """uvicorn's own logging, and camserve's logger beside it at INFO: what serves and why (the runtime
    choice and its timings) is said at start-up, where an operator looks."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["camserve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def run(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    default, *others = load_models(settings)  # before binding: a bad checkpoint fails here, in its own words
    ensure_open_files(settings.max_connections + SPARE_FILES)
    metrics = Metrics()
    uvicorn.run(
        create_app(settings, default.predictor, metrics, default.runtime, others),
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(connection_limits(settings), metrics),
        timeout_keep_alive=settings.keep_alive_s,
        log_level="info",
        log_config=log_config(),
    )
    return 0


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service (settings from CAMSERVE_* variables)")
    serve.add_argument("--host", help="interface to listen on (default: CAMSERVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: CAMSERVE_PORT or 8000)")
    serve.set_defaults(handler=run, settings_type=Settings)
