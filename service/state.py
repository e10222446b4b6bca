"""Everything a request handler needs, built once per app and handed out as a FastAPI dependency."""

from dataclasses import dataclass

from cachetools import LRUCache
from fastapi import Request

from camserve.models.metadata import ModelMetadata
from camserve.models.selection import RuntimeChoice
from camserve.service.group_commit import GroupCommitter
from camserve.service.inference import InferenceEngine
from camserve.service.metrics import Metrics
from camserve.service.results import model_info
from camserve.service.schemas import ModelInfo
from camserve.service.settings import Settings
from camserve.service.stores import PredictionStore


@dataclass
class AppState:
    settings: Settings
    engine: InferenceEngine
    store: PredictionStore
    metrics: Metrics
    rendered: LRUCache[tuple[object, ...], bytes]
    runtime: RuntimeChoice
    committer: GroupCommitter

    @property
    def metadata(self) -> ModelMetadata:
        return self.engine.predictor.metadata

    @property
    def model_info(self) -> ModelInfo:
        return model_info(self.metadata)

    def forget_pictures(self, prediction_ids: list[str]) -> None:
        """Drop every rendered picture of these results (deleted or expired). On the event loop only."""
        gone = set(prediction_ids)
        for key in [key for key in self.rendered if key[0] in gone]:
            self.rendered.pop(key, None)


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain-def dependency on the thread pool, a thread hop per request."""
    state: AppState = request.app.state.camserve
    return state
