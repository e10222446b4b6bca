"""``lanes=auto``: full batches timed one forward at a time and side by side, and half batches side by side;
lanes kept only where they pay, half batches only where they keep the pace; the answer cached; a setting is
obeyed untimed."""

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata, load_metadata
from camserve.models.runtimes import RuntimeRequest
from camserve.models.selection.lanes import (
    HALF_BATCH_KEEPS,
    MIN_GAIN,
    LanedPredictor,
    Timings,
    choose_lanes,
    measure_lanes,
)


@pytest.fixture
def request_for(tiny_checkpoint: Path, tmp_path: Path) -> RuntimeRequest:
    return RuntimeRequest(tiny_checkpoint, batch_size=4, choice_cache_dir=tmp_path / "choice", lanes="auto")


def timings(one: float, side_by_side: float, calls: list[int], half: float | None = None) -> Callable[[], Timings]:
    def measure() -> Timings:
        calls.append(1)
        return one, side_by_side, half

    return measure


def test_a_setting_is_obeyed_untimed(request_for: RuntimeRequest) -> None:
    calls: list[int] = []
    chosen = choose_lanes(replace(request_for, lanes=3), "openvino", "int8", 2, timings(1.0, 9.0, calls, 9.0))
    assert (chosen.lanes, chosen.full_batch, chosen.source, calls) == (3, 4, "setting", [])


def test_one_core_has_one_lane_untimed(request_for: RuntimeRequest) -> None:
    calls: list[int] = []
    chosen = choose_lanes(request_for, "openvino", "int8", 1, timings(1.0, 9.0, calls))
    assert (chosen.lanes, calls) == (1, [])


@pytest.mark.parametrize(("side_by_side", "lanes"), [(100.0 * MIN_GAIN, 2), (100.0 * MIN_GAIN - 0.5, 1)])
def test_lanes_serve_only_where_they_beat_one_forward_by_the_margin(
    request_for: RuntimeRequest, side_by_side: float, lanes: int
) -> None:
    chosen = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, side_by_side, []))
    assert (chosen.lanes, chosen.source) == (lanes, "measured")
    assert chosen.one_forward_photos_per_s == 100.0


@pytest.mark.parametrize(
    ("side_by_side", "half", "full_batch"),
    [
        (120.0, 120.0 * HALF_BATCH_KEEPS, 2),  # half batches as fast: they serve, more requests wait ready
        (120.0, 120.0 * HALF_BATCH_KEEPS - 0.5, 4),  # slower: the full batch stays
        (120.0, None, 4),  # not timed (a batch of 2 or 3 has no half worth forwarding)
        (90.0, 200.0, 4),  # no lanes: one forward on every core keeps the whole batch
    ],
)
def test_half_batches_serve_only_in_lanes_and_only_where_they_keep_the_pace(
    request_for: RuntimeRequest, side_by_side: float, half: float | None, full_batch: int
) -> None:
    chosen = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, side_by_side, [], half))
    assert chosen.full_batch == full_batch
    assert chosen.half_batch_photos_per_s == half


def test_the_answer_is_cached_per_runtime_and_precision(
    request_for: RuntimeRequest, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    with caplog.at_level(logging.INFO, logger="camserve"):
        first = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, 120.0, calls, 119.0))
    assert (
        "serving with 2 lane(s) of 2-photo batches (measured; full batches: one forward on every core 100.0 "
        "photos/s, side by side 120.0, half batches side by side 119.0)"
    ) in caplog.text
    again = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, 50.0, calls))
    assert (again.lanes, again.full_batch, again.source) == (first.lanes, 2, "cached")
    choose_lanes(request_for, "openvino", "fp32", 2, timings(100.0, 50.0, calls))
    assert len(calls) == 2  # fp32 is its own question


class CountingLanes:
    """A predictor with two lanes whose forwards only count, so the timing loop itself is what is tested."""

    runtime = "fake"
    device = "cpu"
    precision = "fp32"
    hook_count = 0
    lanes = 2
    full_batch = 4

    def __init__(self, metadata: ModelMetadata) -> None:
        self.metadata = metadata
        self.alone: list[int] = []
        self.in_lane: list[int] = []

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        self.alone.append(len(batch))
        return []

    def predict_in_lane(self, batch: np.ndarray) -> list[Prediction]:
        self.in_lane.append(len(batch))
        return []


def test_measuring_forwards_the_same_photos_every_way(tiny_checkpoint: Path) -> None:
    """Full batches one at a time and side by side, half batches side by side: as many photos each way."""
    predictor = CountingLanes(load_metadata(tiny_checkpoint))
    assert isinstance(predictor, LanedPredictor)
    one, side_by_side, half = measure_lanes(predictor, 4)
    assert one > 0 and side_by_side > 0 and half is not None and half > 0
    assert set(predictor.alone) == {4} and set(predictor.in_lane) == {4, 2}
    full_in_lanes = sum(size for size in predictor.in_lane if size == 4)
    half_in_lanes = sum(size for size in predictor.in_lane if size == 2)
    # Less the warm-up: one full batch alone, one full and one half batch in each of the 2 lanes.
    assert sum(predictor.alone) - 4 == full_in_lanes - 8 == half_in_lanes - 4 > 0


def test_a_batch_too_small_to_halve_is_timed_whole_only(tiny_checkpoint: Path) -> None:
    predictor = CountingLanes(load_metadata(tiny_checkpoint))
    *_, half = measure_lanes(predictor, 3)
    assert half is None and set(predictor.in_lane) == {3}
