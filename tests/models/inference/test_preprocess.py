"""The serving preprocess: the whole photo squashed, standardised per channel, channels first."""

import numpy as np
import pytest
from PIL import Image

from camserve.models.inference.preprocess import prepare, to_model_input
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.photos import encode

METADATA = ModelMetadata("m", "1", "resnet34", ("cat", "dog"), 32, mean=(0.5, 0.25, 0.75), std=(0.5, 0.25, 0.125))


def test_each_channel_is_standardised_with_its_own_mean_and_std() -> None:
    """One flat colour in, so every pixel of channel c must read (value / 255 - mean[c]) / std[c]."""
    rgb = (200, 10, 130)
    pixels = to_model_input(Image.new("RGB", (50, 20), rgb), METADATA)
    assert pixels.shape == (3, 32, 32)
    assert pixels.dtype == np.float32
    assert pixels.flags.c_contiguous
    for channel, value in enumerate(rgb):
        expected = (value / 255.0 - METADATA.mean[channel]) / METADATA.std[channel]
        np.testing.assert_allclose(pixels[channel], np.full((32, 32), expected), atol=1e-5, rtol=1e-5)


def test_matches_the_float_formula_on_random_pixels() -> None:
    """The in-place arithmetic gives what normalising (H, W, 3) floats and transposing gives."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mean = np.asarray(METADATA.mean, dtype=np.float32) * 255.0
    std = np.asarray(METADATA.std, dtype=np.float32) * 255.0
    expected = ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    actual = to_model_input(Image.fromarray(pixels), METADATA)
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)


def test_refuses_a_photo_that_is_not_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        to_model_input(Image.new("L", (32, 32)), METADATA)


MAX_PIXELS = 50_000_000


def test_prepare_reports_original_size_of_large_jpeg(served_predictor: TorchPredictor) -> None:
    data = encode(Image.new("RGB", (4000, 3000), (10, 200, 30)), "JPEG")
    prepared = prepare(data, served_predictor.metadata, MAX_PIXELS)
    assert (prepared.width, prepared.height) == (4000, 3000)
    size = served_predictor.metadata.input_size
    assert prepared.pixels.shape == (3, size, size)


def test_committed_model_calls_the_committed_cat_photo_a_cat(
    served_predictor: TorchPredictor, chelsea_bytes: bytes
) -> None:
    """A guard on the shipped weights: a model that loses this photo (1.0.0 called it "dog") should not ship."""
    prepared = prepare(chelsea_bytes, served_predictor.metadata, MAX_PIXELS)
    (prediction,) = served_predictor.predict(prepared.pixels[None])
    assert served_predictor.metadata.class_names[prediction.label_index()] == "cat"
    assert prediction.probabilities[prediction.label_index()] > 0.8
