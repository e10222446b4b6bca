"""Checks on prediction results as served: two runs over the same photos must give the same answers."""

import io

import httpx
import numpy as np
import pytest
from PIL import Image


def assert_same_results(
    expected: list[tuple[httpx.Response, float, bytes]], actual: list[tuple[httpx.Response, float, bytes]]
) -> None:
    """Same labels and sizes; probabilities and maps equal up to float rounding of batched kernels.

    Each item is (the POST's response, its elapsed seconds, the heatmap PNG it links to), for the same photos
    in the same order.
    """
    assert len({r.json()["probabilities"]["cat"] for r, _, _ in expected}) == len(expected)  # distinguishable
    for (one, _, one_map), (other, _, other_map) in zip(expected, actual, strict=True):
        assert other.status_code == one.status_code == 201
        a, b = one.json(), other.json()
        assert (b["label"], b["width"], b["height"]) == (a["label"], a["width"], a["height"])
        for name, p in a["probabilities"].items():
            assert b["probabilities"][name] == pytest.approx(p, abs=1e-5)
        one_pixels = np.asarray(Image.open(io.BytesIO(one_map)), dtype=np.int16)
        other_pixels = np.asarray(Image.open(io.BytesIO(other_map)), dtype=np.int16)
        # One map level apart at most: a level moves a jet channel by up to 4 (255 over 64 levels).
        assert np.abs(one_pixels - other_pixels).max() <= 4
