"""Labelled photos in an image folder, and the deterministic train/validation split a checkpoint records."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})


@dataclass(frozen=True)
class ImageFolder:
    """Photos under ``root/<class name>/``; labels index ``class_names`` (sorted sub-folder names)."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[Path, ...]
    labels: tuple[int, ...]

    def relative(self, index: int) -> str:
        return self.files[index].relative_to(self.root).as_posix()

    def digest(self) -> str:
        """Names and sizes of every file: a cache built from other files is never reused."""
        hasher = hashlib.sha256()
        for index, path in enumerate(self.files):
            hasher.update(f"{self.relative(index)}\0{path.stat().st_size}\n".encode())
        return hasher.hexdigest()[:16]


def scan_image_folder(root: Path, class_names: Sequence[str] | None = None) -> ImageFolder:
    """List the photos; with ``class_names`` (a model's), every one must have a sub-folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = tuple(class_names) if class_names is not None else tuple(folders)
    missing = [name for name in names if name not in folders]
    if missing or len(names) < 2:
        raise ValueError(f"{root}: expected a sub-folder per class {list(names)}, found {folders}")
    files, labels = [], []
    for label, name in enumerate(names):
        photos = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        files += photos
        labels += [label] * len(photos)
    if not files:
        raise ValueError(f"{root}: no photos found")
    return ImageFolder(root, names, tuple(files), tuple(labels))


@dataclass(frozen=True)
class Split:
    """Which photos validate: a file is in validation when a hash of its relative path and the seed says so.

    Hashing names (not shuffling indices) keeps every photo on the same side when files are added or removed.
    """

    val_fraction: float
    seed: int

    def is_validation(self, relative_path: str) -> bool:
        digest = hashlib.sha256(f"{self.seed}:{relative_path}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.val_fraction

    def indices(self, folder: ImageFolder) -> tuple[list[int], list[int]]:
        train: list[int] = []
        val: list[int] = []
        for index in range(len(folder.files)):
            (val if self.is_validation(folder.relative(index)) else train).append(index)
        return train, val

    def describe(self, folder: ImageFolder) -> dict[str, object]:
        """What goes into checkpoint metadata: enough to rebuild the split and check it is the same one."""
        train, val = self.indices(folder)
        return {
            "method": "sha256(f'{seed}:{relative_path}') < val_fraction",
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "train_photos": len(train),
            "val_photos": len(val),
            "val_list_sha256": val_list_sha256(folder, val),
        }


def val_list_sha256(folder: ImageFolder, val: list[int]) -> str:
    """Identifies the validation photos by their relative paths, whatever copy of the data holds them."""
    return hashlib.sha256("\n".join(folder.relative(i) for i in val).encode()).hexdigest()


def recorded_split(extra: dict[str, Any]) -> Split:
    """The split a checkpoint was trained with, from its metadata's ``extra["split"]``."""
    recorded = extra.get("split")
    if not isinstance(recorded, dict) or "val_fraction" not in recorded or "seed" not in recorded:
        raise ValueError("the checkpoint's metadata records no training split (extra.split)")
    return Split(float(recorded["val_fraction"]), int(recorded["seed"]))


def validation_indices(folder: ImageFolder, extra: dict[str, Any]) -> list[int]:
    """The checkpoint's validation photos in ``folder``, refused unless they are exactly the recorded ones.

    A different copy or layout of the data would hash to another subset, possibly of training photos.
    """
    _, val = recorded_split(extra).indices(folder)
    expected = extra["split"].get("val_list_sha256")
    found = val_list_sha256(folder, val)
    if expected != found:
        raise ValueError(
            f"{folder.root}: the validation photos here are not the ones the checkpoint recorded "
            f"(list hash {str(found)[:12]}, recorded {str(expected)[:12]}): other files or another layout"
        )
    return val
