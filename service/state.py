"""Everything a request handler needs, built once per app and handed out as a FastAPI dependency."""

from dataclasses import dataclass

from cachetools import LRUCache
from fastapi import Request

from models.metadata import ModelMetadata
from service.inference import InferenceEngine
from service.metrics import Metrics
from service.schemas import ModelInfo
from service.settings import Settings
from service.store import PredictionStore


@dataclass
class AppState:
    settings: Settings
    engine: InferenceEngine
    store: PredictionStore
    metrics: Metrics
    rendered: LRUCache[tuple[object, ...], bytes]

    @property
    def metadata(self) -> ModelMetadata:
        return self.engine.predictor.metadata

    @property
    def model_info(self) -> ModelInfo:
        meta = self.metadata
        return ModelInfo(name=meta.name, version=meta.version, trained=meta.trained)


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain-def dependency on the thread pool, a thread hop per request."""
    return request.app.state.camserve
