"""Another input size: every set is scored at every size (and the predictor left at its own), and every size
is timed within each round, at batch 1 and the serving batch."""

from pathlib import Path

import pytest

from camserve.models.evaluation.input_sizes import SizeCost, score_sizes, time_sizes
from camserve.models.evaluation.photo_sets import PhotoSet
from tests.models.evaluation.answers import LeftRightPredictor

MAX_PIXELS = 50_000_000


def test_every_set_at_every_size_then_the_trained_size_again(image_folder: Path) -> None:
    predictor = LeftRightPredictor()
    photos = len(list(image_folder.rglob("*.jpg")))
    scored = score_sizes(predictor, [32, 48], (PhotoSet("all", image_folder, False),), MAX_PIXELS)
    assert {size: figures["all"].photos for size, figures in scored.items()} == {32: photos, 48: photos}
    assert {shape[-1] for shape in predictor.shapes} == {32, 48}
    assert predictor.metadata.input_size == 32


def test_sizes_are_timed_in_each_round_at_batch_one_and_the_serving_batch(chelsea_bytes: bytes) -> None:
    predictor = LeftRightPredictor()
    costs = time_sizes(predictor, [32, 48], [chelsea_bytes], batch=4, rounds=2, max_pixels=MAX_PIXELS)
    warm_up = [(1, 3, 32, 32), (4, 3, 32, 32), (1, 3, 48, 48), (4, 3, 48, 48)]
    assert predictor.shapes == warm_up * 3  # the warm-up, then each round the same order
    assert set(costs) == {32, 48}
    assert costs[48].to_dict().keys() == {"forward_1_ms", "forward_4_ms_per_photo", "prepare_fullres_ms"}
    assert all(value > 0 for value in costs[48].to_dict().values())


def test_the_per_photo_figure_is_named_after_its_batch() -> None:
    assert SizeCost(8, 1.0, 0.5, 3.0).to_dict() == {
        "forward_1_ms": 1.0,
        "forward_8_ms_per_photo": 0.5,
        "prepare_fullres_ms": 3.0,
    }


def test_timing_needs_a_photo() -> None:
    with pytest.raises(ValueError, match="at least one photo"):
        time_sizes(LeftRightPredictor(), [32], [], batch=4, rounds=1, max_pixels=MAX_PIXELS)
