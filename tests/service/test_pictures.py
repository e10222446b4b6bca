"""How a picture reads its result: the class asked for, the weights of the maps, the zoom's box."""

import numpy as np
import pytest

from camserve.service.pictures import UnknownClass, class_index, map_weights, outline
from camserve.service.schemas import Box, Zoom
from tests.support.stores import make_result

ZOOMED = Zoom(
    requested=True,
    used=True,
    box=Box(left=1, top=2, right=30, bottom=40),
    photo_probabilities={"cat": 0.6, "dog": 0.4},
    crop_probabilities={"cat": 0.9, "dog": 0.1},
)


def test_a_class_is_its_maps_index_and_none_is_the_weighted_cam() -> None:
    assert class_index(["cat", "dog"], "dog") == 1
    assert class_index(["cat", "dog"], None) is None
    with pytest.raises(UnknownClass, match="choose one of: cat, dog"):
        class_index(["cat", "dog"], "fox")


def test_maps_are_weighted_by_the_whole_photos_answer_after_a_zoom() -> None:
    plain = make_result("plain")
    np.testing.assert_allclose(map_weights(plain), [0.75, 0.25])
    zoomed = plain.model_copy(update={"zoom": ZOOMED})
    np.testing.assert_allclose(map_weights(zoomed), [0.6, 0.4])


def test_the_box_is_drawn_only_when_asked_for_and_there_is_one() -> None:
    assert outline(ZOOMED, wanted=True) == (1, 2, 30, 40)
    assert outline(ZOOMED, wanted=False) is None
    assert outline(Zoom(requested=True), wanted=True) is None
