"""The FastAPI application: wires settings, model, store, metrics and routers together."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cachetools import LRUCache
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from camserve import __version__
from camserve.models.predictor import Predictor
from camserve.models.runtimes import load_predictor
from camserve.models.selection import RuntimeChoice, choose_runtime
from camserve.service.errors import install_error_handlers
from camserve.service.group_commit import GroupCommitter
from camserve.service.inference import InferenceEngine
from camserve.service.limits import BodySizeLimit
from camserve.service.metrics import Metrics, RequestMetrics
from camserve.service.retention import sweep_forever, sweep_interval_s
from camserve.service.routes import health, page, predictions
from camserve.service.security import API_KEY_HEADER
from camserve.service.settings import Settings, get_settings
from camserve.service.state import AppState
from camserve.service.stores import StoreLimits, open_store

log = logging.getLogger("camserve")


def create_app(
    settings: Settings | None = None,
    predictor: Predictor | None = None,
    metrics: Metrics | None = None,
    runtime: RuntimeChoice | None = None,
) -> FastAPI:
    """Build the app; the model loads (unless given) and warms up in the lifespan, before /readyz is ready.
    ``metrics`` is given when the server's connection guard reports into the same registry; ``runtime`` says
    how a given predictor's runtime was chosen (reported in /readyz and /metrics)."""
    settings = settings or get_settings()
    metrics = metrics or Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        request = settings.runtime_request()
        chosen = runtime or (
            RuntimeChoice(predictor.runtime, predictor.precision, "given")
            if predictor
            else choose_runtime(settings.backend, request)
        )
        engine = InferenceEngine(
            predictor or load_predictor(chosen, request),
            metrics,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_max_wait_ms / 1000.0,
            max_queue=settings.queue_max,
        )
        engine.start()
        limits = StoreLimits(settings.store_max_bytes, settings.retention_s)
        store = await asyncio.to_thread(open_store, settings.store_location(), limits, settings.blob_url)
        app.state.camserve = AppState(
            settings=settings,
            engine=engine,
            store=store,
            metrics=metrics,
            rendered=LRUCache(maxsize=settings.render_cache_bytes, getsizeof=len),
            runtime=chosen,
            committer=GroupCommitter(store, max_group_bytes=settings.store_max_bytes // 2),
        )
        metrics.record_runtime(chosen, engine.predictor.runtime, engine.predictor.precision)
        warm_up = asyncio.create_task(asyncio.to_thread(engine.warm_up))
        interval = sweep_interval_s(settings.retention_s)
        sweeping = asyncio.create_task(sweep_forever(app.state.camserve, interval), name="camserve-sweep")
        meta = engine.predictor.metadata
        log.info(
            "camserve: serving %s %s (trained=%s) with %s on %s/%s",
            meta.name,
            meta.version,
            meta.trained,
            engine.predictor.runtime,
            engine.predictor.device,
            engine.predictor.precision,
        )
        log.info("camserve: runtime chosen: %s", chosen.describe())
        try:
            yield
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await warm_up
            await engine.stop()
            store.close()

    app = FastAPI(
        title="camserve",
        summary="Cat or dog, and a class activation map of where the model looked.",
        version=__version__,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_upload_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[API_KEY_HEADER],
            expose_headers=["Location"],
        )
    app.include_router(predictions.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    return app
