"""The release's photo sets: the validation split the checkpoint records, or a folder whole."""

from dataclasses import replace
from pathlib import Path

from camserve.models.dataset import Split, scan_image_folder
from camserve.models.evaluation.photo_sets import PhotoSet, evaluate_set, photo_indices, release_sets, sample
from tests.models.evaluation.answers import METADATA, LeftRightPredictor


def test_the_validation_set_is_the_recorded_split_and_the_other_the_whole_folder(image_folder: Path) -> None:
    folder = scan_image_folder(image_folder, METADATA.class_names)
    split = Split(0.5, seed=0)
    metadata = replace(METADATA, extra={"split": split.describe(folder)})
    assert photo_indices(folder, metadata, validation=True) == split.indices(folder)[1]
    assert photo_indices(folder, metadata, validation=False) == list(range(len(folder.files)))
    validation, full_resolution = release_sets(image_folder, Path("fullres"))
    assert (validation.name, validation.validation) == ("validation", True)
    assert (full_resolution.name, full_resolution.root, full_resolution.validation) == (
        "full_resolution",
        Path("fullres"),
        False,
    )


def test_a_set_is_evaluated_at_the_predictors_input_size(image_folder: Path) -> None:
    predictor = LeftRightPredictor(replace(METADATA, input_size=40))
    evaluation = evaluate_set(predictor, PhotoSet("all", image_folder, False), 50_000_000)
    assert evaluation.report.photos == len(list(image_folder.rglob("*.jpg")))
    assert {shape[-1] for shape in predictor.shapes} == {40}


def test_a_sample_is_seeded_in_folder_order_and_never_larger_than_the_set() -> None:
    indices = list(range(0, 40, 2))
    drawn = sample(indices, 5, seed=3)
    assert len(drawn) == 5 and drawn == sorted(drawn) and set(drawn) <= set(indices)
    assert sample(indices, 5, seed=3) == drawn != sample(indices, 5, seed=4)
    assert sample(indices, None, seed=3) == sample(indices, 50, seed=3) == indices


def test_a_limited_set_evaluates_only_its_sample(image_folder: Path) -> None:
    evaluation = evaluate_set(LeftRightPredictor(), PhotoSet("all", image_folder, False), 50_000_000, limit=3)
    assert evaluation.report.photos == 3
