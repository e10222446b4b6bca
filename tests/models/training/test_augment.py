"""Augmentation is reproducible from its generator, stays in pixel range, and normalisation matches serving."""

import numpy as np
import pytest
import torch
from PIL import Image

from camserve.models.inference.preprocess import squash, to_model_input
from camserve.models.metadata import ModelMetadata
from camserve.models.training.augment import Augmentation, resize_batch, standardise

NO_CROP_NO_JITTER = Augmentation(min_area=1.0, min_aspect=1.0, max_aspect=1.0, jitter=0.0)


def random_uint8(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, height, width), dtype=torch.uint8, generator=generator)


def test_output_shape_dtype_and_range() -> None:
    """Whatever the crop and jitter, the network gets size x size floats inside 0..255."""
    images = random_uint8(4, 40, 40)
    batch = Augmentation(jitter=0.5)(images, 24, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 3, 24, 24)
    assert batch.dtype == torch.float32
    assert float(batch.min()) >= 0.0
    assert float(batch.max()) <= 255.0


def test_same_generator_seed_same_batch_other_seed_other_batch() -> None:
    """Epochs are seeded, so a resumed run replays the same augmentation; different seeds must differ."""
    images = random_uint8(3, 40, 40)
    augment = Augmentation()
    first = augment(images, 32, torch.Generator().manual_seed(5))
    again = augment(images, 32, torch.Generator().manual_seed(5))
    other = augment(images, 32, torch.Generator().manual_seed(6))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)


def test_without_crop_or_jitter_each_photo_is_itself_or_its_mirror() -> None:
    """The flip is the only change left; both orientations must occur, and nothing else may happen to pixels."""
    images = random_uint8(16, 32, 32)
    batch = NO_CROP_NO_JITTER(images, 32, torch.Generator().manual_seed(0))
    flipped = []
    for image, out in zip(images.float(), batch, strict=True):
        if torch.allclose(out, image, atol=1e-3):
            flipped.append(False)
        else:
            torch.testing.assert_close(out, image.flip(-1), atol=1e-3, rtol=0)
            flipped.append(True)
    assert any(flipped)
    assert not all(flipped)


def test_crops_fit_inside_narrow_photos() -> None:
    """Aspect ratios up to 4:3 on a photo 4x taller than wide must still crop inside the photo."""
    images = random_uint8(2, 64, 16)
    generator = torch.Generator().manual_seed(0)
    augment = Augmentation(min_area=0.1)
    for _ in range(20):
        assert augment(images, 32, generator).shape == (2, 3, 32, 32)


def test_crop_zooms_in() -> None:
    """A photo with a thin bright border: small crops mostly miss it, so the batch gets darker on average."""
    images = torch.zeros(32, 3, 40, 40, dtype=torch.uint8)
    images[:, :, :4, :] = 255
    images[:, :, -4:, :] = 255
    images[:, :, :, :4] = 255
    images[:, :, :, -4:] = 255
    whole = resize_batch(images, 32).mean()
    cropped = Augmentation(min_area=0.2, jitter=0.0)(images, 32, torch.Generator().manual_seed(0)).mean()
    assert cropped < 0.8 * whole


def test_jitter_keeps_a_grey_photo_grey_within_the_brightness_range() -> None:
    """Saturation and contrast leave a flat grey photo alone; brightness scales it by at most 1 +/- jitter."""
    images = torch.full((8, 3, 32, 32), 128, dtype=torch.uint8)
    augment = Augmentation(min_area=1.0, min_aspect=1.0, max_aspect=1.0, jitter=0.2)
    batch = augment(images, 32, torch.Generator().manual_seed(0))
    torch.testing.assert_close(batch[:, 0], batch[:, 1])
    torch.testing.assert_close(batch[:, 1], batch[:, 2])
    assert float(batch.min()) >= 128 * 0.8 - 1e-3
    assert float(batch.max()) <= 128 * 1.2 + 1e-3
    per_photo = batch.mean(dim=(1, 2, 3))
    assert float(per_photo.max() - per_photo.min()) > 1.0  # the photos were jittered differently


def test_resize_batch() -> None:
    """Validation input: same size is a plain float copy, another size keeps flat colours flat."""
    images = random_uint8(2, 32, 32)
    torch.testing.assert_close(resize_batch(images, 32), images.float())
    flat = torch.full((1, 3, 48, 40), 77, dtype=torch.uint8)
    resized = resize_batch(flat, 32)
    assert resized.shape == (1, 3, 32, 32)
    torch.testing.assert_close(resized, torch.full_like(resized, 77.0))


def test_standardise_uses_the_checkpoint_mean_and_std() -> None:
    metadata = ModelMetadata("m", "1", "resnet34", ("cat", "dog"), 32, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    batch = torch.full((2, 3, 4, 4), 255.0)
    out = standardise(batch, metadata)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out[:, 0], torch.full((2, 4, 4), 1.0))
    torch.testing.assert_close(out[:, 1], torch.full((2, 4, 4), 3.0))
    torch.testing.assert_close(out[:, 2], torch.full((2, 4, 4), 1.0))


def test_augmentation_and_standardise_stay_on_the_photos_device() -> None:
    """A GPU run augments where its photos live. The "meta" device stands in for CUDA here: any tensor the
    code makes on the CPU by default and mixes in raises, as it would on a GPU."""
    metadata = ModelMetadata("m", "1", "resnet34", ("cat", "dog"), 32)
    photos = torch.zeros(4, 3, 40, 40, dtype=torch.uint8, device="meta")
    batch = standardise(Augmentation()(photos, 32, torch.Generator().manual_seed(0)), metadata)
    assert (batch.device.type, tuple(batch.shape)) == ("meta", (4, 3, 32, 32))


@pytest.mark.parametrize("size", [32, 48])
def test_validation_input_matches_serving_input(size: int) -> None:
    """With the cache at the serving size, what validation scores is exactly what the service would feed."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    photo = Image.fromarray(pixels)
    metadata = ModelMetadata("m", "1", "resnet34", ("cat", "dog"), size)
    cached = torch.from_numpy(np.asarray(squash(photo, size)).transpose(2, 0, 1).copy())[None]
    training = standardise(resize_batch(cached, size), metadata)
    serving = torch.from_numpy(to_model_input(photo, metadata))[None]
    torch.testing.assert_close(training, serving, atol=1e-5, rtol=1e-5)
