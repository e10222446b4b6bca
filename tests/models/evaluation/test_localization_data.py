"""Annotations to masks: the outline filled at the photo's size, the pointing game's slack around it, and the
real dev set's annotations when present."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camserve.models.evaluation.localization_data import (
    TOLERANCE_PX,
    load_annotations,
    outline_mask,
    within_tolerance,
)
from tests.support.annotated import write_annotated_folder
from tests.support.photos import SHARED_DATA

DEV = SHARED_DATA / "oxford-pets-dev"


def test_the_outline_fills_its_rectangle_and_the_head_box_is_read(tmp_path: Path) -> None:
    photo = load_annotations(write_annotated_folder(tmp_path) / "annotations.json")[0]
    assert (photo.file, photo.width, photo.height, photo.head_box) == ("red/corner.png", 128, 96, (8, 8, 39, 39))
    mask = outline_mask(photo)
    assert mask.shape == (96, 128)
    assert mask[8:41, 8:41].all() and mask.sum() == 33 * 33  # the polygon's edges are drawn, both ends


def test_the_tolerance_is_a_disc_of_fifteen_pixels() -> None:
    mask = np.zeros((61, 61), bool)
    mask[30, 30] = True
    grown = within_tolerance(mask)
    assert grown[30, 30 + TOLERANCE_PX] and grown[30 - TOLERANCE_PX, 30]
    assert not grown[30, 30 + TOLERANCE_PX + 1]
    assert not grown[30 + 11, 30 + 11]  # 15.6 px away on the diagonal


def test_an_outline_of_two_points_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    record = {"file": "a.png", "width": 4, "height": 4, "outline": [[0, 0], [1, 1]], "head_box": None}
    path.write_text(json.dumps({"photos": [record]}))
    with pytest.raises(ValueError, match=r"a\.png's outline"):
        load_annotations(path)


@pytest.mark.skipif(not (DEV / "annotations.json").is_file(), reason=f"the annotated dev set is not at {DEV}")
def test_the_dev_set_annotations_fit_their_photos() -> None:
    photos = load_annotations(DEV / "annotations.json")
    assert len(photos) == 185
    for photo in photos:
        with Image.open(DEV / photo.file) as image:
            assert image.size == (photo.width, photo.height), photo.file
        assert outline_mask(photo).any(), photo.file
        if photo.head_box is not None:
            left, top, right, bottom = photo.head_box
            assert 0 <= left <= right < photo.width and 0 <= top <= bottom < photo.height, photo.file
