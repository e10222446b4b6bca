"""``GET /models``: which models this service serves, what each says about itself, and how it runs here."""

from typing import Annotated

from fastapi import APIRouter, Depends

from camserve.service.schemas import ModelList, ServedModelInfo
from camserve.service.served_models import ServedModel
from camserve.service.state import AppState, get_state

router = APIRouter(prefix="/models", tags=["models"])

State = Annotated[AppState, Depends(get_state)]


@router.get("", response_model=ModelList)
async def list_models(state: State) -> ModelList:
    """Every served model, the default first. ``POST /predictions?model=NAME`` picks one by its name."""
    default = state.models.default
    return ModelList(default=default.name, models=[describe(model, model is default) for model in state.models])


def describe(model: ServedModel, default: bool) -> ServedModelInfo:
    metadata = model.metadata
    predictor = model.engine.predictor
    return ServedModelInfo(
        name=metadata.name,
        version=metadata.version,
        trained=metadata.trained,
        default=default,
        ready=model.engine.ready,
        architecture=metadata.architecture,
        classes=list(metadata.class_names),
        input_size=metadata.input_size,
        mean=list(metadata.mean),
        std=list(metadata.std),
        temperature=metadata.temperature,
        runtime=predictor.runtime,
        precision=predictor.precision,
        device=str(predictor.device),
        runtime_source=model.runtime.source,
        details=metadata.extra,
    )
