"""The archive is decoded once into a packed cache that later runs read; the shared copy has the layout the
loader expects."""

import tarfile
from pathlib import Path

import numpy as np
import pytest

from camserve.models.cifar import archive
from camserve.models.cifar.archive import load_cifar
from camserve.models.files import file_sha256
from tests.support.cifar import CIFAR_ARCHIVE, TINY_COLOURS

SHARED_SHA256 = "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"


def test_load_decodes_once_and_reuses_the_pack(
    cifar_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_cifar(cifar_archive, tmp_path)
    assert data.class_names == ("airplane", "bird", "cat")
    assert data.train_images.shape == (36, 3, 32, 32) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (12, 3, 32, 32)
    assert list(np.bincount(data.train_labels)) == [12, 12, 12]
    # The pixels are the class's colour (JPEG q75 and noise blur it a little).
    for label, name in enumerate(data.class_names):
        mean = data.test_images[data.test_labels == label].mean(axis=(0, 2, 3))
        np.testing.assert_allclose(mean, TINY_COLOURS[name], atol=25)
    (packed,) = tmp_path.iterdir()
    assert packed.name.startswith("cifar10-") and packed.suffix == ".npz"

    def no_decoding(*args: object) -> None:
        raise AssertionError("the pack should have been read")

    monkeypatch.setattr(archive, "_decode_archive", no_decoding)
    again = load_cifar(cifar_archive, tmp_path)
    np.testing.assert_array_equal(again.train_images, data.train_images)
    np.testing.assert_array_equal(again.test_labels, data.test_labels)
    assert again.class_names == data.class_names


def test_an_archive_without_a_test_split_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(ValueError, match="expected train/<class>"):
        load_cifar(path, tmp_path / "cache")


@pytest.mark.skipif(not CIFAR_ARCHIVE.is_file(), reason=f"the shared CIFAR-10 archive is absent ({CIFAR_ARCHIVE})")
def test_the_shared_archive_has_the_expected_layout() -> None:
    assert file_sha256(CIFAR_ARCHIVE) == SHARED_SHA256
    counts: dict[tuple[str, str], int] = {}
    with tarfile.open(CIFAR_ARCHIVE, "r:gz") as tar:
        for member in tar:
            if member.isfile():
                split, label = Path(member.name).parts[-3:-1]
                counts[split, label] = counts.get((split, label), 0) + 1
    assert len({label for _, label in counts}) == 10
    assert {count for (split, _), count in counts.items() if split == "train"} == {5000}
    assert {count for (split, _), count in counts.items() if split == "test"} == {1000}
