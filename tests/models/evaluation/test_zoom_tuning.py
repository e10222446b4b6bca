"""Choosing a zoom rule: the grid covers every combination once, each photo's answer is combined with its
crop's only where the rule zoomed, the choices respect the cost budget, and the held-out split is required."""

import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from camserve.models.dataset import Split, scan_image_folder, validation_indices
from camserve.models.evaluation.zoom_tuning import CHEAP_SHARE, TunedPhotos, choose, grid, rule_answers, tune_zoom
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.zoom import ZOOM_RULE, CropBox, combine
from tests.models.evaluation.answers import METADATA, LeftRightPredictor


def prediction(cat: float) -> Prediction:
    return Prediction(np.array([cat, 1.0 - cat], dtype=np.float32), np.zeros((2, 2, 2), dtype=np.float32))


def test_the_grid_holds_every_combination_once_including_the_served_rule() -> None:
    rules = grid()
    assert len(rules) == len(set(rules)) == 2 * 3 * 3 * 3 * 4
    assert ZOOM_RULE in rules


def test_only_zoomed_photos_take_their_crops_answer() -> None:
    photos = TunedPhotos(
        [Path("a"), Path("b")], np.array([0, 0]), [(64, 64), (64, 64)], [prediction(0.4), prediction(0.6)]
    )
    box = CropBox(0, 0, 32, 32)
    looked = {(1, box): prediction(1.0)}
    answers = rule_answers(photos, ZOOM_RULE, [None, box], looked)
    assert answers[0] == pytest.approx([0.4, 0.6])
    assert answers[1] == pytest.approx(combine(prediction(0.6), prediction(1.0), ZOOM_RULE))
    assert answers[1][0] > 0.6


def test_the_cheap_choice_is_the_best_within_the_budget() -> None:
    """The table comes sorted, best first; the best rule zooms too many photos for the cheap choice."""
    rules = grid()[:3]
    table = [
        {"rule": asdict(rules[0]), "zoomed": 9, "log_loss": 0.1},
        {"rule": asdict(rules[1]), "zoomed": 3, "log_loss": 0.2},
        {"rule": asdict(rules[2]), "zoomed": 1, "log_loss": 0.3},
    ]
    chosen = choose(table, photos=int(3 / CHEAP_SHARE))
    assert chosen == {"lowest_log_loss": rules[0], "cheap": rules[1]}


def split_predictor(image_folder: Path) -> tuple[LeftRightPredictor, list[int]]:
    folder = scan_image_folder(image_folder, METADATA.class_names)
    extra = {"split": Split(0.5, seed=0).describe(folder)}
    return LeftRightPredictor(replace(METADATA, extra=extra)), validation_indices(folder, extra)


def test_photos_with_a_stand_in_are_held_out_of_the_choice(image_folder: Path, tmp_path: Path) -> None:
    """One validation photo per class has a stand-in: those are scored held out, never tuned on. The
    hand-made model's maps are flat, so no rule zooms."""
    predictor, validation = split_predictor(image_folder)
    folder = scan_image_folder(image_folder, METADATA.class_names)
    firsts = {folder.labels[i]: i for i in reversed(validation)}.values()
    for index in firsts:
        stand_in = tmp_path / "fullres" / folder.relative(index)
        stand_in.parent.mkdir(parents=True)
        shutil.copy(folder.files[index], stand_in)
    tuned = tune_zoom(predictor, image_folder, tmp_path / "fullres", 50_000_000, cost_photos=1, reps=1)
    assert tuned["tuning"]["photos"] == len(validation) - 2
    assert {row["zoomed"] for row in tuned["tuning"]["grid"]} == {0}
    for name in ("lowest_log_loss", "cheap"):
        assert tuned[name]["held_out_validation"]["photos"] == 2
        assert tuned[name]["held_out_full_resolution"]["photos"] == 2
        assert tuned[name]["cost"] == {"photos": 0, "reps": 1}


def test_tuning_needs_photos_with_and_without_a_stand_in(image_folder: Path) -> None:
    """Every validation photo of this folder stands in for itself: nothing is left to tune on."""
    predictor, _ = split_predictor(image_folder)
    with pytest.raises(ValueError, match="with and without a full-resolution stand-in"):
        tune_zoom(predictor, image_folder, image_folder, 50_000_000, cost_photos=1, reps=1)
