"""Everything a request handler needs, built once per app and handed out as a FastAPI dependency."""

from dataclasses import dataclass

from fastapi import Request

from camserve.service.group_commit import GroupCommitter
from camserve.service.memory_budget import MemoryBudget
from camserve.service.metrics import Metrics
from camserve.service.picture_cache import PictureCache
from camserve.service.served_models import ServedModels
from camserve.service.settings import Settings
from camserve.service.stores import PredictionStore


@dataclass
class AppState:
    settings: Settings
    models: ServedModels
    store: PredictionStore
    metrics: Metrics
    rendered: PictureCache
    committer: GroupCommitter
    memory: MemoryBudget  # what full-size photos and pictures may hold at once

    def forget_pictures(self, prediction_ids: list[str]) -> None:
        """Drop every rendered picture of these results (deleted or expired), and keep none being drawn of them
        now. On the event loop only."""
        self.rendered.forget(prediction_ids)


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain-def dependency on the thread pool, a thread hop per request."""
    state: AppState = request.app.state.camserve
    return state
