"""The decoded-photo cache: the service's decode and squash, written once and reused only for the same files."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from camserve.models.dataset import scan_image_folder
from camserve.models.inference.preprocess import squash
from camserve.models.training import cache as cache_module
from camserve.models.training.cache import cached_images, decode_all


def test_decode_all_squashes_like_the_service(image_folder: Path) -> None:
    """Cached pixels are the service's decode + squash, so training sees what serving will see."""
    folder = scan_image_folder(image_folder)
    files = [folder.files[0], folder.files[-1]]
    images = decode_all(files, 32, workers=1)
    assert images.shape == (2, 3, 32, 32)
    assert images.dtype == torch.uint8
    expected = np.asarray(squash(Image.open(files[0]).convert("RGB"), 32)).transpose(2, 0, 1)
    np.testing.assert_array_equal(images[0].numpy(), expected)
    cat_mean, dog_mean = images[0].float().mean(dim=(1, 2)), images[1].float().mean(dim=(1, 2))
    assert cat_mean[0] > cat_mean[2] + 50  # red-ish
    assert dog_mean[2] > dog_mean[0] + 50  # blue-ish


def test_cached_images_are_written_once_and_reused(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second epoch, or the rerun after a kill, must not decode again; another size is another file."""
    folder = scan_image_folder(image_folder)
    cache = tmp_path / "cache"
    first = cached_images(folder, 32, cache)
    path = cache / f"images-{folder.digest()}-32px.safetensors"
    assert path.is_file()
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # no .partial left behind
    torch.testing.assert_close(load_file(str(path))["images"], first)

    def no_decoding(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("decoded again although the cache holds these photos")

    monkeypatch.setattr(cache_module, "decode_all", no_decoding)
    torch.testing.assert_close(cached_images(folder, 32, cache), first)
    with pytest.raises(AssertionError, match="decoded again"):
        cached_images(folder, 40, cache)


def test_cache_is_not_reused_for_another_file_list(image_folder: Path, tmp_path: Path) -> None:
    """A photo added to the folder changes the digest, so the old cache (one photo short) is ignored."""
    cache = tmp_path / "cache"
    cached_images(scan_image_folder(image_folder), 32, cache)
    root = shutil.copytree(image_folder, tmp_path / "grown")
    shutil.copy(root / "dog" / "dog-00.jpg", root / "dog" / "extra.jpg")
    grown = scan_image_folder(root)
    assert len(cached_images(grown, 32, cache)) == len(grown.files)
    assert len(list(cache.glob("images-*-32px.safetensors"))) == 2


def test_unreadable_photos_are_named_in_one_error(image_folder: Path, tmp_path: Path) -> None:
    """A broken file in 20,000 must be findable: the error lists it instead of a bare decoder message."""
    root = shutil.copytree(image_folder, tmp_path / "broken")
    (root / "cat" / "truncated.jpg").write_bytes((root / "cat" / "cat-00.jpg").read_bytes()[:40])
    with pytest.raises(ValueError, match=r"1 photos cannot be read.*truncated\.jpg"):
        decode_all(scan_image_folder(root).files, 32, workers=1)
