"""The serving preprocess: the whole photo squashed, standardised per channel, channels first."""

import numpy as np
import pytest
import torch
from PIL import Image

from models.metadata import ModelMetadata
from models.preprocess import to_model_input

METADATA = ModelMetadata("m", "1", "resnet34", ("cat", "dog"), 32, mean=(0.5, 0.25, 0.75), std=(0.5, 0.25, 0.125))


def test_each_channel_is_standardised_with_its_own_mean_and_std() -> None:
    """One flat colour in, so every pixel of channel c must read (value / 255 - mean[c]) / std[c]."""
    rgb = (200, 10, 130)
    tensor = to_model_input(Image.new("RGB", (50, 20), rgb), METADATA)
    assert tensor.shape == (3, 32, 32)
    assert tensor.dtype == torch.float32
    assert tensor.is_contiguous()
    for channel, value in enumerate(rgb):
        expected = (value / 255.0 - METADATA.mean[channel]) / METADATA.std[channel]
        torch.testing.assert_close(tensor[channel], torch.full((32, 32), expected), atol=1e-5, rtol=1e-5)


def test_matches_the_float_formula_on_random_pixels() -> None:
    """The in-place arithmetic gives what normalising (H, W, 3) floats and transposing gives."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mean = np.asarray(METADATA.mean, dtype=np.float32) * 255.0
    std = np.asarray(METADATA.std, dtype=np.float32) * 255.0
    expected = ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    actual = to_model_input(Image.fromarray(pixels), METADATA).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)


def test_refuses_a_photo_that_is_not_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        to_model_input(Image.new("L", (32, 32)), METADATA)
