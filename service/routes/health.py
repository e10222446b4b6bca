"""Liveness, readiness and metrics."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from camserve.models.selection import RuntimeChoice
from camserve.service.schemas import Readiness, RuntimeCandidate, RuntimeSelection, Storage
from camserve.service.state import AppState, get_state

router = APIRouter(tags=["operations"])

State = Annotated[AppState, Depends(get_state)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and answering; says nothing about the model."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: State) -> JSONResponse:
    """Ready once the model is loaded and warmed up; says loudly when the weights are marked untrained."""
    warnings = [] if state.metadata.trained else ["the served weights are marked UNTRAINED: their answers mean nothing"]
    body = Readiness(
        ready=state.engine.ready,
        model=state.model_info,
        backend=state.engine.predictor.runtime,
        device=str(state.engine.predictor.device),
        precision=state.engine.predictor.precision,
        runtime_selection=runtime_selection(state.runtime),
        storage=Storage(keeps_photos=state.settings.store_photos, retention_s=state.settings.retention_s),
        warnings=warnings,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


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
