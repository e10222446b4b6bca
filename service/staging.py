"""A photo starts travelling to the store while the model looks at it.

With photos in a bucket, the upload is the slowest part of storing a result; sent as soon as the photo has
arrived, it overlaps decoding and inference instead of adding to them (bench/cluster.py store measures it).
A request that ends without storing its result (its photo refused, the server busy, any error) takes the
staged photo back, in the background, so its answer does not wait for that.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.concurrency import run_in_threadpool

from camserve.service.stores import PredictionStore

__all__ = ["StagedPhoto", "staged_photo"]

# Take-backs in flight: the event loop keeps only weak references to tasks.
_taking_back: set["asyncio.Task[None]"] = set()


class StagedPhoto:
    def __init__(self, staging: "asyncio.Future[None] | None") -> None:
        self._staging = staging

    async def ready(self) -> None:
        """Return once the photo is staged (at once where nothing is staged); raises what staging raised."""
        if self._staging is not None:
            await asyncio.shield(self._staging)


@asynccontextmanager
async def staged_photo(
    store: PredictionStore, prediction_id: str, photo: bytes, keep: bool
) -> AsyncIterator[StagedPhoto]:
    """Stage ``photo`` for ``prediction_id`` if it is to be kept and the store stages photos; inside, store the
    result (after ``ready()``); leaving by an exception takes the photo back."""
    if not (keep and store.stages_photos):
        yield StagedPhoto(None)
        return
    staging = asyncio.ensure_future(run_in_threadpool(store.stage, prediction_id, photo))
    try:
        yield StagedPhoto(staging)
    except BaseException:
        task = asyncio.get_running_loop().create_task(_take_back(store, staging, prediction_id))
        _taking_back.add(task)
        task.add_done_callback(_taking_back.discard)
        raise


async def _take_back(store: PredictionStore, staging: "asyncio.Future[None]", prediction_id: str) -> None:
    # A staging that failed left at most a record the store's sweep deletes; one still running is let finish,
    # so the take-back cannot overtake the upload.
    with suppress(Exception):
        await staging
    await run_in_threadpool(store.unstage, prediction_id)
