"""Everything a request handler needs, built once per app and handed out as a FastAPI dependency."""

from dataclasses import dataclass

from cachetools import LRUCache
from fastapi import Request

from camserve.service.group_commit import GroupCommitter
from camserve.service.metrics import Metrics
from camserve.service.served_models import ServedModels
from camserve.service.settings import Settings
from camserve.service.stores import PredictionStore


@dataclass
class AppState:
    settings: Settings
    models: ServedModels
    store: PredictionStore
    metrics: Metrics
    rendered: LRUCache[tuple[object, ...], bytes]
    committer: GroupCommitter

    def forget_pictures(self, prediction_ids: list[str]) -> None:
        """Drop every rendered picture of these results (deleted or expired). On the event loop only."""
        gone = set(prediction_ids)
        for key in [key for key in self.rendered if key[0] in gone]:
            self.rendered.pop(key, None)


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain-def dependency on the thread pool, a thread hop per request."""
    state: AppState = request.app.state.camserve
    return state
