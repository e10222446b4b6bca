"""Prometheus metrics in a registry per app, so several apps (tests) never share counters."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from camserve.models.selection.runtime import RuntimeChoice

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


MEMORY_WAIT_OUTCOMES = ("waited", "timed_out", "refused")


class Stage(StrEnum):
    """Where a request's time goes, one histogram series each (``camserve_stage_seconds{stage=...}``)."""

    decode = "decode"  # photo bytes to model input, on a request thread
    zoom = "zoom"  # a zoomed photo's crop to model input (decode and preprocess), on a request thread
    queue_wait = "queue_wait"  # from joining the inference queue to its batch's forward starting
    inference = "inference"  # one forward, whole batch
    store = "store"  # writing the result durably
    render = "render"  # a picture drawn for a GET (cache misses only)


class Closed(StrEnum):
    """Why the guard closed a connection: the label of ``camserve_connections_closed_total``."""

    head_too_large = "head_too_large"
    head_timeout = "head_timeout"
    body_too_slow = "body_too_slow"
    over_capacity = "over_capacity"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "camserve_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "camserve_http_request_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "camserve_inference_batch_size",
            "Photos per forward pass, by model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference_latency = Histogram(
            "camserve_inference_seconds",
            "Forward pass latency, whole batch, by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.registered_hooks = Gauge(
            "camserve_registered_hooks",
            "Forward hooks registered on the network (should stay 0).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "camserve_inference_queue_depth", "Photos waiting for the model.", registry=self.registry
        )
        self.rejected = Counter(
            "camserve_overload_rejections",
            "Requests refused with 503 because the queue was full.",
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "camserve_stage_seconds",
            "Time spent in each stage of serving a photo.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        for stage in Stage:  # every series exists from the start, so dashboards and alerts see zeros, not gaps
            self.stage_latency.labels(stage.value)
        self.open_connections = Gauge(
            "camserve_open_connections", "HTTP connections open now (camserve serve).", registry=self.registry
        )
        self.connections_closed = Counter(
            "camserve_connections_closed",
            "Connections the server closed for breaking a limit, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in Closed:
            self.connections_closed.labels(reason.value)
        self.runtime = Gauge(
            "camserve_runtime_info",
            "1 for the runtime and precision serving each model, and how they were chosen.",
            ["model", "runtime", "precision", "source"],
            registry=self.registry,
        )
        self.runtime_candidates = Gauge(
            "camserve_runtime_candidate_forward_seconds",
            "Each candidate's measured forward of each model on this machine (CAMSERVE_BACKEND=auto): per photo, by "
            "batch size.",
            ["model", "runtime", "precision", "batch_size"],
            registry=self.registry,
        )
        self.memory_budget = Gauge(
            "camserve_memory_budget_bytes",
            "The memory budget for full-size photos and pictures (CAMSERVE_MEMORY_BUDGET_BYTES or derived).",
            registry=self.registry,
        )
        self.memory_reserved = Gauge(
            "camserve_memory_reserved_bytes", "Bytes of the memory budget held now.", registry=self.registry
        )
        self.memory_waits = Histogram(
            "camserve_memory_wait_seconds",
            "Reservations of the memory budget that could not go at once, by outcome: waited (then went), timed_out "
            "(503), refused (more than the whole budget, 413; observed as 0 s).",
            ["outcome"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        for outcome in MEMORY_WAIT_OUTCOMES:
            self.memory_waits.labels(outcome)
        # process_resident_memory_bytes, process_open_fds, CPU seconds: the standard process metrics.
        ProcessCollector(registry=self.registry)

    def record_runtime(self, model: str, choice: RuntimeChoice, runtime: str, precision: str) -> None:
        """A model's serving runtime, and the figures ``auto`` chose it by (none for a runtime named in settings).
        Its forward series exist from here on, so dashboards see zeros for a model not yet asked, not gaps."""
        self.batch_size.labels(model)
        self.inference_latency.labels(model)
        self.runtime.labels(model, runtime, precision, choice.source).set(1)
        for m in choice.measurements:
            if m.single_ms is not None and m.batch_ms_per_photo is not None:
                self.runtime_candidates.labels(model, m.runtime, m.precision, "1").set(m.single_ms / 1000.0)
                self.runtime_candidates.labels(model, m.runtime, m.precision, str(m.batch_size)).set(
                    m.batch_ms_per_photo / 1000.0
                )

    def observe_memory_wait(self, seconds: float, outcome: str) -> None:
        self.memory_waits.labels(outcome).observe(seconds)

    def observe(self, stage: Stage, seconds: float) -> None:
        self.stage_latency.labels(stage.value).observe(seconds)

    @contextmanager
    def timed(self, stage: Stage) -> Iterator[None]:
        """Observe the block's wall time as ``stage``, whether it succeeds or raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(stage, time.perf_counter() - started)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Count every request by its route template (not the raw path, which would explode label counts).

    Plain ASGI rather than ``@app.middleware("http")``: that decorator's BaseHTTPMiddleware runs each request
    in an extra task group and re-streams its response, about a quarter of the event loop's time per POST
    in a profile here.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")  # the router records the match in scope
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.request_latency.labels(method, template).observe(time.perf_counter() - started)
