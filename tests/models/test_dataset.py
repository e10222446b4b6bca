"""Image folders: the scan, and a split that never moves a photo between sides and is checked when rebuilt."""

import hashlib
import shutil
from pathlib import Path

import pytest

from camserve.models.dataset import Split, recorded_split, scan_image_folder, validation_indices
from tests.support.photos import CAT_RGB, SYNTHETIC_PER_CLASS, write_image_folder


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_scan_lists_photos_by_sorted_class(image_folder: Path) -> None:
    """Labels index the sorted sub-folder names, so a model's class order is reproducible from the folder."""
    folder = scan_image_folder(image_folder)
    assert folder.class_names == ("cat", "dog")
    assert len(folder.files) == 2 * SYNTHETIC_PER_CLASS
    assert folder.labels == (0,) * SYNTHETIC_PER_CLASS + (1,) * SYNTHETIC_PER_CLASS
    assert folder.relative(0) == "cat/cat-00.jpg"
    assert folder.relative(len(folder.files) - 1) == f"dog/dog-{SYNTHETIC_PER_CLASS - 1:02d}.jpg"


def test_scan_skips_non_photos_and_hidden_folders(image_folder: Path, tmp_path: Path) -> None:
    """Notes, hidden folders and sub-directories are not photos; upper-case suffixes are."""
    root = copy_folder(image_folder, tmp_path / "photos")
    (root / "cat" / "notes.txt").write_text("not a photo")
    (root / "cat" / "nested.jpg").mkdir()
    shutil.copy(root / "cat" / "cat-00.jpg", root / "cat" / "UPPER.JPG")
    (root / ".thumbnails").mkdir()
    folder = scan_image_folder(root)
    assert folder.class_names == ("cat", "dog")
    cats = [folder.relative(i) for i, label in enumerate(folder.labels) if label == 0]
    assert "cat/UPPER.JPG" in cats
    assert len(cats) == SYNTHETIC_PER_CLASS + 1


def test_scan_follows_given_class_order_and_ignores_extra_folders(image_folder: Path, tmp_path: Path) -> None:
    """Evaluation passes the model's class names: labels must follow them, not the folder's order."""
    root = copy_folder(image_folder, tmp_path / "photos")
    (root / "bird").mkdir()
    shutil.copy(root / "cat" / "cat-00.jpg", root / "bird" / "b.jpg")
    folder = scan_image_folder(root, ("dog", "cat"))
    assert folder.class_names == ("dog", "cat")
    assert folder.relative(0).startswith("dog/")
    assert all(folder.relative(i).startswith("cat/") for i, label in enumerate(folder.labels) if label == 1)
    assert not any(folder.relative(i).startswith("bird/") for i in range(len(folder.files)))


def test_scan_rejects_folders_that_do_not_fit(tmp_path: Path) -> None:
    """A missing class folder, a single class or no photos at all are errors, not an empty data set."""
    with pytest.raises(FileNotFoundError):
        scan_image_folder(tmp_path / "absent")
    root = write_image_folder(tmp_path / "one", {"cat": CAT_RGB}, per_class=2)
    with pytest.raises(ValueError, match="sub-folder per class"):
        scan_image_folder(root)
    with pytest.raises(ValueError, match="sub-folder per class"):
        scan_image_folder(root, ("cat", "dog"))
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "dog").mkdir()
    with pytest.raises(ValueError, match="no photos"):
        scan_image_folder(tmp_path / "empty")


def test_digest_depends_on_names_and_sizes_not_on_location(image_folder: Path, tmp_path: Path) -> None:
    """The cache is keyed by the digest: the same list elsewhere reuses it, any change to the list does not."""
    original = scan_image_folder(image_folder).digest()
    moved = copy_folder(image_folder, tmp_path / "moved")
    assert scan_image_folder(moved).digest() == original
    shutil.copy(moved / "cat" / "cat-00.jpg", moved / "cat" / "extra.jpg")
    added = scan_image_folder(moved).digest()
    assert added != original
    with (moved / "cat" / "extra.jpg").open("ab") as photo:
        photo.write(b"\0")
    assert scan_image_folder(moved).digest() not in {original, added}


def test_split_is_the_documented_hash() -> None:
    """The rule recorded in checkpoint metadata must be the rule applied, or --split val evaluates other photos."""
    split = Split(0.3, seed=7)
    for name in ("cat/a.jpg", "dog/b.jpg", "dog/c d.png"):
        digest = hashlib.sha256(f"7:{name}".encode()).digest()
        assert split.is_validation(name) == (int.from_bytes(digest[:8], "big") / 2**64 < 0.3)


def test_split_fraction_and_seed() -> None:
    """About val_fraction of the photos validate, and another seed picks other photos."""
    names = [f"cat/{i}.jpg" for i in range(4000)]
    chosen = {name for name in names if Split(0.2, seed=0).is_validation(name)}
    assert 0.17 < len(chosen) / len(names) < 0.23
    other_seed = {name for name in names if Split(0.2, seed=1).is_validation(name)}
    assert chosen != other_seed
    assert not any(Split(0.0, seed=0).is_validation(name) for name in names)
    assert all(Split(1.0, seed=0).is_validation(name) for name in names)


def test_split_keeps_every_photo_on_its_side_when_files_are_added(image_folder: Path, tmp_path: Path) -> None:
    """Adding photos must not move old ones between training and validation (no leak into validation)."""
    split = Split(0.3, seed=0)
    before = scan_image_folder(image_folder)
    train, val = split.indices(before)
    assert sorted(train + val) == list(range(len(before.files)))
    assert val and train
    root = copy_folder(image_folder, tmp_path / "grown")
    for index in range(10):
        shutil.copy(root / "dog" / "dog-00.jpg", root / "cat" / f"added-{index}.jpg")
    after = scan_image_folder(root)
    val_names_after = {after.relative(i) for i in split.indices(after)[1]}
    assert {before.relative(i) for i in val} == val_names_after & {before.relative(i) for i in range(len(before.files))}


def test_describe_records_the_split_and_recorded_split_rebuilds_it(image_folder: Path) -> None:
    """Checkpoint metadata must rebuild the very same validation list (evaluate --split val relies on it)."""
    folder = scan_image_folder(image_folder)
    split = Split(0.25, seed=3)
    train, val = split.indices(folder)
    described = split.describe(folder)
    assert described["train_photos"] == len(train)
    assert described["val_photos"] == len(val)
    listing = "\n".join(folder.relative(i) for i in val).encode()
    assert described["val_list_sha256"] == hashlib.sha256(listing).hexdigest()
    rebuilt = recorded_split({"split": described})
    assert rebuilt == split
    assert rebuilt.indices(folder) == (train, val)


@pytest.mark.parametrize("extra", [{}, {"split": "0.1"}, {"split": {"seed": 0}}, {"split": {"val_fraction": 0.1}}])
def test_recorded_split_refuses_checkpoints_without_one(extra: dict[str, object]) -> None:
    """Without a recorded split there is no honest validation set; the message says what to do instead."""
    with pytest.raises(ValueError, match="records no training split"):
        recorded_split(extra)


def test_validation_indices_refuse_a_different_set_of_photos(image_folder: Path, tmp_path: Path) -> None:
    """Another copy of the data with one more photo must not be scored as the checkpoint's validation set."""
    folder = scan_image_folder(image_folder)
    extra = {"split": Split(0.5, seed=1).describe(folder)}
    assert validation_indices(folder, extra) == Split(0.5, seed=1).indices(folder)[1]
    root = copy_folder(image_folder, tmp_path / "grown")
    for index in range(40):
        shutil.copy(root / "dog" / "dog-00.jpg", root / "dog" / f"extra-{index}.jpg")
    with pytest.raises(ValueError, match="not the ones the checkpoint recorded"):
        validation_indices(scan_image_folder(root), extra)
