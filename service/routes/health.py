"""Liveness, readiness and metrics."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from camserve.models.selection.runtime import RuntimeChoice
from camserve.service.results import model_info
from camserve.service.schemas import Readiness, RuntimeCandidate, RuntimeSelection, Storage
from camserve.service.state import AppState, get_state
from camserve.service.stores import StoreUnavailable, StoreUnwritable

router = APIRouter(tags=["operations"])

State = Annotated[AppState, Depends(get_state)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and answering; says nothing about the model."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: State) -> JSONResponse:
    """Ready once every model is loaded and warmed up, while the store answers and can write; says loudly when
    weights are marked untrained. A load balancer stops sending POSTs here during a store outage, a full disk or
    a read-only store, and resumes by itself.
    The model, runtime and precision are the default model's; ``GET /models`` describes every one."""
    body = await readiness(state)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


async def readiness(state: AppState) -> Readiness:
    """What /readyz answers; ``/v2/health/ready`` is ready exactly when it is."""
    storage = await _storage(state)
    warnings = [
        f"the weights of {model.name} are marked UNTRAINED: their answers mean nothing"
        for model in state.models
        if not model.metadata.trained
    ]
    default = state.models.default
    return Readiness(
        ready=state.models.ready and storage.reachable and storage.writable,
        model=model_info(default.metadata),
        backend=default.engine.predictor.runtime,
        device=str(default.engine.predictor.device),
        precision=default.engine.predictor.precision,
        inference_lanes=default.engine.lanes,
        batch_max_size=default.engine.batcher.max_batch_size,
        runtime_selection=runtime_selection(default.runtime),
        storage=storage,
        warnings=warnings,
    )


async def _storage(state: AppState) -> Storage:
    reachable = writable = True
    problem: str | None = None
    try:
        await run_in_threadpool(state.store.check)
    except StoreUnwritable as error:
        writable, problem = False, str(error)
    except StoreUnavailable as error:
        reachable = writable = False
        problem = str(error)
    return Storage(
        store=state.store.kind,
        reachable=reachable,
        writable=writable,
        problem=problem,
        keeps_photos=state.settings.store_photos,
        retention_s=state.settings.retention_s,
    )


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    return state.metrics.render()


def runtime_selection(choice: RuntimeChoice) -> RuntimeSelection:
    candidates = [
        RuntimeCandidate(
            runtime=m.runtime,
            precision=m.precision,
            single_ms=m.single_ms,
            batch_ms_per_photo=m.batch_ms_per_photo,
            batch_size=m.batch_size,
            skipped=m.skipped,
        )
        for m in choice.measurements
    ]
    return RuntimeSelection(
        source=choice.source,
        fastest_single=choice.fastest_single,
        fastest_batch=choice.fastest_batch,
        candidates=candidates,
    )
