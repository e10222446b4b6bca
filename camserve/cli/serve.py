"""``camserve serve``: the HTTP service, configured by ``CAMSERVE_*`` variables.

SIGTERM or SIGINT (Ctrl+C) drains: no new connections, the requests in flight answered, then the models stopped
and the store closed; the exit status is 0 once that finished. A second SIGINT cuts the drain short (exit 130);
a second SIGTERM changes nothing.
"""

import argparse
import copy
import logging
import logging.config
import resource
import signal
from types import FrameType
from typing import Any

import uvicorn

from camserve.service.allocator import tune_for_large_buffers
from camserve.service.app import create_app, open_settings_store
from camserve.service.connections import ConnectionLimits, guarded_protocol
from camserve.service.metrics import Metrics
from camserve.service.served_models import load_models
from camserve.service.settings import Settings

log = logging.getLogger("camserve")

# File descriptors beyond the connections: the store, the model's files, libraries, the listening socket.
SPARE_FILES = 256
STARTUP_FAILED = 3  # uvicorn's own status when the app's start-up fails (it has logged why)
DRAIN_CUT_SHORT = 128 + signal.SIGINT  # a second Ctrl+C stopped the drain: the shell's status for SIGINT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


def serve_until_stopped(server: uvicorn.Server) -> int:
    """Run ``server`` until SIGTERM or SIGINT and its drain; the exit status: 0 once the drain finished.

    uvicorn catches both signals while it serves, drains, puts back the handlers it found, then raises the
    signal again, so that the process ends as the signal would have ended it: with SIGTERM's default action
    that is death by signal (status 143) after a clean drain, which Kubernetes, docker and systemd report as a
    failure. So camserve sets its own handlers first: uvicorn puts them back, and the signal raised again finds
    one that only asks the server to stop (which also covers a signal that lands before uvicorn's handlers are
    in place)."""

    def stop(_signal: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    found = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        server.run()
    finally:
        for number, handler in found.items():
            signal.signal(number, handler)
    if not server.started:
        return STARTUP_FAILED
    if server.force_exit:
        log.warning("camserve: the drain was cut short by a second signal")
        return DRAIN_CUT_SHORT
    if getattr(server.lifespan, "shutdown_failed", False):
        return 1  # uvicorn has logged the app's error
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    # Before binding, so that a damaged store file or a bad checkpoint fails here, in one line of its own words:
    # the store first, since it opens in a moment and the models may take seconds.
    store = open_settings_store(settings)
    applied = tune_for_large_buffers()  # before the models and the request threads allocate
    # Before the models load, not only when uvicorn starts: with CAMSERVE_BACKEND=auto the first start times the
    # runtimes for tens of seconds, and says how far it is (models/selection/runtime.py).
    logging.config.dictConfig(log_config())
    try:
        default, *others = load_models(settings)
    except BaseException:
        store.close()
        raise
    if applied:  # said once the models loaded, so that a bad checkpoint still stops serve in one line
        log.info("camserve: glibc malloc set for large photos: %s", applied)
    ensure_open_files(settings.max_connections + SPARE_FILES)
    metrics = Metrics()
    config = uvicorn.Config(
        create_app(settings, default.predictor, metrics, default.runtime, others, store=store),
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(connection_limits(settings), metrics),
        timeout_keep_alive=settings.keep_alive_s,
        log_level="info",
        log_config=log_config(),
    )
    return serve_until_stopped(uvicorn.Server(config))


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service (settings from CAMSERVE_* variables)")
    serve.add_argument("--host", help="interface to listen on (default: CAMSERVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: CAMSERVE_PORT or 8000)")
    serve.set_defaults(handler=run, settings_type=Settings)
