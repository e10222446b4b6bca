"""How many full batches a CPU runtime forwards side by side: measured once per machine for ``lanes=auto``, cached.

One forward on every core is what a lone photo wants: it answers soonest. Under load every forward is a full
batch and they queue back to back; there, several single-threaded lanes (OpenVINO's streams), each forwarding
its own batch, may get more photos per second through the same cores: no thread of a lane waits at a barrier
for a sibling that a decoding thread has pushed off its core. Whether they do depends on the CPU, the graph and
the batch, so ``auto`` times both on this machine (full batches, in alternating turns) and keeps the lanes only
where they beat the one forward by ``MIN_GAIN``. A runtime with lanes still runs a batch smaller than full, and
every batch of a caller that sends one at a time, as one forward on every core.
"""

import json
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from camserve.models.files import atomic_write
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.runtimes import RuntimeRequest
from camserve.models.selection.runtime import choice_cache_path

__all__ = ["LanedPredictor", "LanesChoice", "choose_lanes", "measure_lanes"]

log = logging.getLogger("camserve")

MIN_GAIN = 1.03  # lanes must beat one forward by more than the turns' spread to be worth a second code path
ROUNDS = 6  # turns, alternating which goes first
BATCHES_PER_LANE = 3  # full batches each lane forwards in a round (one forward does as many in all)


@runtime_checkable
class LanedPredictor(Predictor, Protocol):
    """A predictor that can also forward full batches side by side, ``lanes`` at a time, with ``predict_in_lane``
    (thread-safe; it waits while a ``predict`` runs, and ``predict`` waits for the lanes, so the cores are never
    asked for more threads than they have)."""

    lanes: int

    def predict_in_lane(self, batch: np.ndarray) -> list[Prediction]: ...


@dataclass(frozen=True)
class LanesChoice:
    """How many lanes serve, where that came from, and the photos/s behind a measured choice."""

    lanes: int
    source: Literal["setting", "measured", "cached"]
    one_forward_photos_per_s: float | None = None
    lanes_photos_per_s: float | None = None

    def describe(self) -> str:
        if self.one_forward_photos_per_s is None or self.lanes_photos_per_s is None:
            return f"{self.lanes} lane(s) ({self.source})"
        return (
            f"{self.lanes} lane(s) ({self.source}; full batches: one forward on every core "
            f"{self.one_forward_photos_per_s:.1f} photos/s, side by side {self.lanes_photos_per_s:.1f})"
        )


def choose_lanes(
    request: RuntimeRequest, runtime: str, precision: str, most: int, measure: Callable[[], tuple[float, float]]
) -> LanesChoice:
    """The lanes to serve ``request`` with on ``runtime`` at ``precision``: the setting, or for ``auto`` up to
    ``most`` (the usable cores) where ``measure`` (one forward's and the lanes' photos/s, called only when no
    answer is cached) says they pay."""
    if isinstance(request.lanes, int):
        return LanesChoice(request.lanes, "setting")
    if most < 2:
        return LanesChoice(1, "setting")
    cache_path = choice_cache_path(request, lanes_for=f"{runtime}:{precision}:{most}")
    try:
        return LanesChoice(**{**json.loads(cache_path.read_text()), "source": "cached"})
    except (OSError, ValueError, TypeError):
        pass
    log.info("camserve: timing %d lanes against one forward for %s:%s (once; cached)", most, runtime, precision)
    one, side_by_side = measure()
    lanes = most if side_by_side >= MIN_GAIN * one else 1
    chosen = LanesChoice(lanes, "measured", round(one, 1), round(side_by_side, 1))
    with atomic_write(cache_path) as staged:
        staged.write_text(json.dumps(asdict(chosen), indent=2) + "\n")
    log.info("camserve: serving with %s", chosen.describe())
    return chosen


def measure_lanes(predictor: LanedPredictor, batch_size: int) -> tuple[float, float]:
    """Photos/s of full batches forwarded one at a time on every core (``predict``) and side by side in every
    lane (``predict_in_lane``), each the median of alternating turns."""
    size = predictor.metadata.input_size
    batch = np.random.default_rng(0).standard_normal((batch_size, 3, size, size), dtype=np.float32)
    predictor.predict(batch)
    _side_by_side(predictor, batch, 1)  # every lane warmed up
    batches = BATCHES_PER_LANE * predictor.lanes
    one: list[float] = []
    lanes: list[float] = []
    for turn in range(ROUNDS):
        order = [(one, _one_at_a_time), (lanes, _side_by_side)]
        for samples, run in order if turn % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            run(predictor, batch, batches // (1 if run is _one_at_a_time else predictor.lanes))
            samples.append(batches * batch_size / (time.perf_counter() - started))
    return statistics.median(one), statistics.median(lanes)


def _one_at_a_time(predictor: LanedPredictor, batch: np.ndarray, count: int) -> None:
    for _ in range(count):
        predictor.predict(batch)


def _side_by_side(predictor: LanedPredictor, batch: np.ndarray, per_lane: int) -> None:
    def lane() -> None:
        for _ in range(per_lane):
            predictor.predict_in_lane(batch)

    threads = [threading.Thread(target=lane) for _ in range(predictor.lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
