"""How many full batches a CPU runtime forwards side by side: measured once per machine for ``lanes=auto``, cached.

One forward on every core is what a lone photo wants: it answers soonest. Under load every forward is a full
batch and they queue back to back; there, several single-threaded lanes (OpenVINO's streams), each forwarding
its own batch, may get more photos per second through the same cores: no thread of a lane waits at a barrier
for a sibling that a decoding thread has pushed off its core. Whether they do depends on the CPU, the graph and
the batch, so ``auto`` times both on this machine (full batches, in alternating turns) and keeps the lanes only
where they beat the one forward by ``MIN_GAIN``. A runtime with lanes still runs a batch smaller than full, and
every batch of a caller that sends one at a time, as one forward on every core.

With lanes, each lane holds a full batch, so lanes x batch requests sit inside forwards at once: at that many in
flight none waits decoded for the next batch, and a lane that finishes idles while new requests are read and
decoded. Half-size batches leave half of them waiting, ready. So the same turns time the lanes on half batches
too, and where those keep ``HALF_BATCH_KEEPS`` of the full batches' photos/s, half a batch is the full batch
served (on a 2-core AVX2 EPYC, int8: 16 requests in flight served 69 instead of 60 a second, 64 the same).
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

__all__ = ["LanedPredictor", "LanesChoice", "Timings", "choose_lanes", "measure_lanes"]

log = logging.getLogger("camserve")

MIN_GAIN = 1.03  # lanes must beat one forward by more than the turns' spread to be worth a second code path
HALF_BATCH_KEEPS = 0.95  # half batches must keep this share of the full batches' photos/s in the lanes
ROUNDS = 6  # turns, alternating which goes first
BATCHES_PER_LANE = 2  # full batches each lane forwards in a round (one forward does as many in all)


@runtime_checkable
class LanedPredictor(Predictor, Protocol):
    """A predictor that can also forward full batches side by side, ``lanes`` at a time, with ``predict_in_lane``
    (thread-safe; it waits while a ``predict`` runs, and ``predict`` waits for the lanes, so the cores are never
    asked for more threads than they have)."""

    lanes: int
    full_batch: int | None  # the batch its lanes forward best, the batcher's full batch (None: the caller's)

    def predict_in_lane(self, batch: np.ndarray) -> list[Prediction]: ...


@dataclass(frozen=True)
class LanesChoice:
    """How many lanes serve, the full batch they forward, where that came from, and the photos/s behind a
    measured choice (``half_batch_photos_per_s``: the lanes on half batches, where a half batch is 2 or more)."""

    lanes: int
    full_batch: int
    source: Literal["setting", "measured", "cached"]
    one_forward_photos_per_s: float | None = None
    lanes_photos_per_s: float | None = None
    half_batch_photos_per_s: float | None = None

    def describe(self) -> str:
        said = f"{self.lanes} lane(s) of {self.full_batch}-photo batches ({self.source}"
        if self.one_forward_photos_per_s is None or self.lanes_photos_per_s is None:
            return said + ")"
        said += (
            f"; full batches: one forward on every core {self.one_forward_photos_per_s:.1f} photos/s, side by side "
            f"{self.lanes_photos_per_s:.1f}"
        )
        if self.half_batch_photos_per_s is not None:
            said += f", half batches side by side {self.half_batch_photos_per_s:.1f}"
        return said + ")"


Timings = tuple[float, float, float | None]  # one forward, the lanes, the lanes on half batches (None: not timed)


def choose_lanes(
    request: RuntimeRequest, runtime: str, precision: str, most: int, measure: Callable[[], Timings]
) -> LanesChoice:
    """The lanes to serve ``request`` with on ``runtime`` at ``precision``, and their full batch: the setting (and
    ``request.batch_size``), or for ``auto`` up to ``most`` (the usable cores) where ``measure`` (photos/s, called
    only when no answer is cached) says they pay, on half batches where those keep their pace."""
    if isinstance(request.lanes, int):
        return LanesChoice(request.lanes, request.batch_size, "setting")
    if most < 2:
        return LanesChoice(1, request.batch_size, "setting")
    cache_path = choice_cache_path(request, lanes_for=f"{runtime}:{precision}:{most}", batches="full-or-half")
    try:
        return LanesChoice(**{**json.loads(cache_path.read_text()), "source": "cached"})
    except (OSError, ValueError, TypeError):
        pass
    log.info("camserve: timing %d lanes against one forward for %s:%s (once; cached)", most, runtime, precision)
    one, side_by_side, half = measure()
    lanes = most if side_by_side >= MIN_GAIN * one else 1
    halved = lanes > 1 and half is not None and half >= HALF_BATCH_KEEPS * side_by_side
    full_batch = request.batch_size // 2 if halved else request.batch_size
    rounded = None if half is None else round(half, 1)
    chosen = LanesChoice(lanes, full_batch, "measured", round(one, 1), round(side_by_side, 1), rounded)
    with atomic_write(cache_path) as staged:
        staged.write_text(json.dumps(asdict(chosen), indent=2) + "\n")
    log.info("camserve: serving with %s", chosen.describe())
    return chosen


def measure_lanes(predictor: LanedPredictor, batch_size: int) -> Timings:
    """Photos/s of full batches forwarded one at a time on every core (``predict``) and side by side in every
    lane (``predict_in_lane``), and of half batches side by side where half is 2 or more (else None): each the
    median of alternating turns, each turn the same number of photos every way."""
    size = predictor.metadata.input_size
    batch = np.random.default_rng(0).standard_normal((batch_size, 3, size, size), dtype=np.float32)
    half = batch[: batch_size // 2] if batch_size // 2 >= 2 else None
    predictor.predict(batch)
    _side_by_side(predictor, batch, 1)  # every lane warmed up
    if half is not None:
        _side_by_side(predictor, half, 1)
    batches = BATCHES_PER_LANE * predictor.lanes
    ways: list[tuple[list[float], Callable[[], None]]] = [
        ([], lambda: _one_at_a_time(predictor, batch, batches)),
        ([], lambda: _side_by_side(predictor, batch, batches // predictor.lanes)),
    ]
    if half is not None:
        ways.append(([], lambda: _side_by_side(predictor, half, 2 * batches // predictor.lanes)))
    for turn in range(ROUNDS):
        for samples, run in ways if turn % 2 == 0 else ways[::-1]:
            started = time.perf_counter()
            run()
            samples.append(batches * batch_size / (time.perf_counter() - started))
    one, side_by_side, *halves = (statistics.median(samples) for samples, _ in ways)
    return one, side_by_side, halves[0] if halves else None


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
