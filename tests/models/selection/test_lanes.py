"""``lanes=auto``: full batches timed one forward at a time and side by side, lanes kept only where they pay,
the answer cached; a setting is obeyed untimed."""

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata, load_metadata
from camserve.models.runtimes import RuntimeRequest
from camserve.models.selection.lanes import MIN_GAIN, LanedPredictor, choose_lanes, measure_lanes


@pytest.fixture
def request_for(tiny_checkpoint: Path, tmp_path: Path) -> RuntimeRequest:
    return RuntimeRequest(tiny_checkpoint, batch_size=4, choice_cache_dir=tmp_path / "choice", lanes="auto")


def timings(one: float, side_by_side: float, calls: list[int]) -> Callable[[], tuple[float, float]]:
    def measure() -> tuple[float, float]:
        calls.append(1)
        return one, side_by_side

    return measure


def test_a_setting_is_obeyed_untimed(request_for: RuntimeRequest) -> None:
    calls: list[int] = []
    chosen = choose_lanes(replace(request_for, lanes=3), "openvino", "int8", 2, timings(1.0, 9.0, calls))
    assert (chosen.lanes, chosen.source, calls) == (3, "setting", [])


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


def test_the_answer_is_cached_per_runtime_and_precision(
    request_for: RuntimeRequest, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    with caplog.at_level(logging.INFO, logger="camserve"):
        first = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, 120.0, calls))
    assert "serving with 2 lane(s) (measured; full batches: one forward on every core 100.0 photos/s" in caplog.text
    again = choose_lanes(request_for, "openvino", "int8", 2, timings(100.0, 50.0, calls))
    assert (again.lanes, again.source, again.lanes_photos_per_s) == (first.lanes, "cached", 120.0)
    choose_lanes(request_for, "openvino", "fp32", 2, timings(100.0, 50.0, calls))
    assert len(calls) == 2  # fp32 is its own question


class CountingLanes:
    """A predictor with two lanes whose forwards only count, so the timing loop itself is what is tested."""

    runtime = "fake"
    device = "cpu"
    precision = "fp32"
    hook_count = 0
    lanes = 2

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


def test_measuring_forwards_full_batches_both_ways_in_equal_numbers(tiny_checkpoint: Path) -> None:
    predictor = CountingLanes(load_metadata(tiny_checkpoint))
    assert isinstance(predictor, LanedPredictor)
    one, side_by_side = measure_lanes(predictor, 4)
    assert one > 0 and side_by_side > 0
    assert set(predictor.alone) == set(predictor.in_lane) == {4}
    assert len(predictor.alone) - 1 == len(predictor.in_lane) - 2  # after one warm-up forward each way (per lane)
