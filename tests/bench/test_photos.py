"""The benchmarks' photos: every source at every size, real where the catsdogs folder is, generated otherwise."""

import io
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bench.lib import photos
from bench.lib.photos import SIZES, build_photos, generated_photos
from tests.support.photos import write_image_folder


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


def test_without_the_catsdogs_folder_every_size_is_generated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(photos, "CATSDOGS", tmp_path / "absent")

    built, origin = build_photos(sources_per_class=2, seed=0)

    assert origin == "generated"
    assert Counter((p.width, p.height) for p in built) == dict.fromkeys(SIZES, 4)
    assert all(size_of(p.data) == (p.width, p.height) for p in built)


def test_real_photos_are_cropped_to_every_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(photos, "CATSDOGS", write_image_folder(tmp_path / "catsdogs", per_class=3))

    built, origin = build_photos(sources_per_class=2, seed=0)

    assert origin == "catsdogs"
    assert len(built) == 2 * 2 * len(SIZES)
    assert {p.name.partition("@")[0] for p in built} == {"cat-00", "cat-01", "dog-00", "dog-01"}
    assert all(size_of(p.data) == (p.width, p.height) for p in built)


def test_the_same_seed_gives_the_same_photos_in_the_same_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(photos, "CATSDOGS", tmp_path / "absent")

    first = build_photos(1, seed=3)

    assert build_photos(1, seed=3) == first
    assert build_photos(1, seed=4) != first


def test_generated_photos_alternate_sizes_and_differ() -> None:
    sizes = [(64, 48), (32, 32)]

    made = generated_photos(sizes, per_size=3, seed=0)

    assert [(p.width, p.height) for p in made] == sizes * 3
    assert len({p.data for p in made}) == 6
