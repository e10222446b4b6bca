"""The FastAPI application: wires settings, model, store, metrics and routers together."""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from camserve import __version__
from camserve.models.inference.predictor import Predictor
from camserve.models.selection.runtime import RuntimeChoice
from camserve.service.errors import install_error_handlers
from camserve.service.group_commit import GroupCommitter
from camserve.service.headers import ResponseHeaders
from camserve.service.heap_trim import HeapTrimmer
from camserve.service.inference import InferenceEngine
from camserve.service.limits import BodySizeLimit
from camserve.service.memory_budget import MemoryBudget
from camserve.service.metrics import Metrics, RequestMetrics
from camserve.service.picture_cache import PictureCache
from camserve.service.retention import sweep_forever, sweep_interval_s
from camserve.service.routes import docs, health, models, open_inference, page, predictions
from camserve.service.security import API_KEY_HEADER
from camserve.service.served_models import LoadedModel, ServedModel, ServedModels, load_models
from camserve.service.settings import Settings, get_settings
from camserve.service.state import AppState
from camserve.service.stores import PredictionStore, StoreLimits, open_store

log = logging.getLogger("camserve")


def create_app(
    settings: Settings | None = None,
    predictor: Predictor | None = None,
    metrics: Metrics | None = None,
    runtime: RuntimeChoice | None = None,
    extra_models: Sequence[LoadedModel] = (),
    store: PredictionStore | None = None,
) -> FastAPI:
    """Build the app; the models load (unless given) and warm up in the lifespan, before /readyz is ready.

    Given ``predictor`` is the default model and ``extra_models`` the others (``runtime`` says how the
    predictor's runtime was chosen); without it, every checkpoint the settings name is loaded
    (``CAMSERVE_WEIGHTS_PATH`` the default, then ``CAMSERVE_EXTRA_WEIGHTS``). ``metrics`` is given when the
    server's connection guard reports into the same registry. ``store`` is given already open (``camserve
    serve`` opens it before binding, so a damaged file is reported in one line); without it, the store the
    settings name is opened in the lifespan. Either way the lifespan closes it."""
    settings = settings or get_settings()
    metrics = metrics or Metrics()

    def with_engine(loaded: LoadedModel) -> ServedModel:
        engine = InferenceEngine(
            loaded.predictor,
            metrics,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_max_wait_ms / 1000.0,
            max_queue=settings.queue_max,
        )
        return ServedModel(engine, loaded.runtime)

    async def loaded_models() -> list[LoadedModel]:
        if predictor is None:
            return await asyncio.to_thread(load_models, settings)
        default = LoadedModel(predictor, runtime) if runtime else LoadedModel.given(predictor)
        return [default, *extra_models]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served = ServedModels([with_engine(loaded) for loaded in await loaded_models()])
        for model in served:
            model.engine.start()
        opened = store if store is not None else await asyncio.to_thread(open_settings_store, settings)
        app.state.camserve = AppState(
            settings=settings,
            models=served,
            store=opened,
            metrics=metrics,
            rendered=PictureCache(settings.render_cache_bytes),
            committer=GroupCommitter(opened, max_group_bytes=settings.store_max_bytes // 2),
            memory=MemoryBudget(settings.memory_budget(), metrics.observe_memory_wait, HeapTrimmer().released),
        )
        metrics.memory_budget.set(app.state.camserve.memory.capacity)
        metrics.memory_reserved.set_function(lambda: app.state.camserve.memory.reserved)
        metrics.registered_hooks.set_function(lambda: served.hook_count)
        metrics.queue_depth.set_function(lambda: served.queued)
        for model in served:
            engine = model.engine
            metrics.record_runtime(model.name, model.runtime, engine.predictor.runtime, engine.predictor.precision)
            log.info(
                "camserve: serving %s %s (trained=%s)%s with %s on %s/%s; runtime chosen: %s",
                model.name,
                model.metadata.version,
                model.metadata.trained,
                " as the default" if model is served.default else f" as ?model={model.name}",
                engine.predictor.runtime,
                engine.predictor.device,
                engine.predictor.precision,
                model.runtime.describe(),
            )
        warm_up = asyncio.create_task(asyncio.to_thread(_warm_up_all, served))
        interval = sweep_interval_s(settings.retention_s)
        sweeping = asyncio.create_task(sweep_forever(app.state.camserve, interval), name="camserve-sweep")
        try:
            yield
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await warm_up
            for model in served:
                await model.engine.stop()
            opened.close()

    app = CamserveApp(
        title="camserve",
        summary="Cat or dog, and a class activation map of where the model looked.",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py with local assets, so they work offline
        redoc_url=None,
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
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(open_inference.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    app.include_router(docs.router)
    app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    return app


class CamserveApp(FastAPI):
    """FastAPI, with the headers every answer carries (``service/headers.py``) added outside its whole middleware
    stack: outside the middleware added below, and outside Starlette's own error middleware, which sends the 500s
    and which ``add_middleware`` cannot reach around."""

    def build_middleware_stack(self) -> ASGIApp:
        return ResponseHeaders(super().build_middleware_stack())


def open_settings_store(settings: Settings) -> PredictionStore:
    """The store the settings name (``CAMSERVE_STORE_URL`` or ``CAMSERVE_STORE_PATH``, ``CAMSERVE_BLOB_URL``)."""
    limits = StoreLimits(settings.store_max_bytes, settings.retention_s)
    return open_store(settings.store_location(), limits, settings.blob_url)


def _warm_up_all(models: ServedModels) -> None:
    """The default first, so it is warm soonest; /readyz waits for all."""
    for model in models:
        model.engine.warm_up()
