"""The predictor: batch results equal single results, hooks never accumulate, bf16 agrees with fp32."""

import math

import numpy as np
import pytest
import torch

from models.predictor import Predictor


def test_batch_equals_one_at_a_time(served_predictor: Predictor) -> None:
    torch.manual_seed(1)
    size = served_predictor.metadata.input_size
    batch = torch.randn(3, 3, size, size)
    together = served_predictor.predict(batch)
    for index, result in enumerate(together):
        (alone,) = served_predictor.predict(batch[index : index + 1])
        np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.class_maps, alone.class_maps, rtol=1e-4, atol=1e-5)
        side = math.ceil(size / 32)  # resnet34 halves the size five times, rounding up
        assert result.class_maps.shape == (2, side, side)
        assert result.class_maps.dtype == np.float32


def test_hooks_do_not_accumulate(served_predictor: Predictor) -> None:
    assert served_predictor.hook_count == 0
    for _ in range(5):
        served_predictor.predict(torch.zeros(1, 3, 224, 224))
    assert served_predictor.hook_count == 0
    assert len(served_predictor.model.class_maps._forward_hooks) == 0


def test_bad_batch_shape_is_refused(served_predictor: Predictor) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        served_predictor.predict(torch.zeros(3, 224, 224))


def test_bf16_matches_fp32_labels(red_patch_predictor: Predictor) -> None:
    """bf16 autocast is a serving option; on the hand-built model it must give the same answers."""
    bf16 = Predictor(red_patch_predictor.model, red_patch_predictor.metadata, torch.device("cpu"), "bf16")
    torch.manual_seed(2)
    batch = torch.rand(4, 3, 64, 64)
    for a, b in zip(red_patch_predictor.predict(batch), bf16.predict(batch), strict=True):
        assert a.label_index() == b.label_index()
        np.testing.assert_allclose(a.class_maps, b.class_maps, atol=0.05)
