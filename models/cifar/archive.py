"""CIFAR-10 from the shared archive (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``), decoded once.

Decoding 60,000 JPEGs takes a while on two cores, so the first run packs them into one uncompressed
``.npz`` keyed by the archive's SHA-256, and every later run (and every network of the ablation) reads that.
Photos go through the service's own decoder, so training sees the pixels serving would.
"""

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from camserve.models.files import atomic_write, file_sha256
from camserve.models.inference.decode import PhotoRejected, decode_photo
from camserve.models.inference.preprocess import squash

SPLITS = ("train", "test")
SIDE = 32
# CIFAR-10's per-channel mean and std of the training set, the lesson's ``stats``.
CIFAR10_MEAN = (0.4914, 0.48216, 0.44653)
CIFAR10_STD = (0.24703, 0.24349, 0.26159)


@dataclass(frozen=True)
class CifarData:
    """uint8 images (N, 3, 32, 32) and int64 labels per split; class names sorted, as folders sort."""

    class_names: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    archive_sha256: str


def load_cifar(archive: Path, cache_dir: Path) -> CifarData:
    """The archive's images, from ``cache_dir`` when this archive (by content) was packed before."""
    digest = file_sha256(archive)
    packed = Path(cache_dir) / f"cifar10-{digest[:16]}.npz"
    if not packed.is_file():
        data = _decode_archive(archive, digest)
        with atomic_write(packed) as staged, staged.open("wb") as out:
            np.savez(
                out,
                class_names=np.array(data.class_names),
                train_images=data.train_images,
                train_labels=data.train_labels,
                test_images=data.test_images,
                test_labels=data.test_labels,
            )
        return data
    with np.load(packed) as stored:
        return CifarData(
            class_names=tuple(str(name) for name in stored["class_names"]),
            train_images=stored["train_images"],
            train_labels=stored["train_labels"],
            test_images=stored["test_images"],
            test_labels=stored["test_labels"],
            archive_sha256=digest,
        )


def _decode_archive(archive: Path, digest: str) -> CifarData:
    """Every ``split/class/name.jpg`` member, in sorted order so packing is deterministic."""
    members: dict[str, list[tuple[str, str, np.ndarray]]] = {split: [] for split in SPLITS}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tqdm(tar, desc="decode cifar10", unit="photo", mininterval=5):
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLITS:
                continue
            split, label, name = parts[-3:]
            extracted = tar.extractfile(member)
            if extracted is not None:
                members[split].append((label, name, _decode(extracted.read(), member.name)))
    class_names = sorted({label for label, _, _ in members["train"]})
    if len(class_names) < 2 or any(not members[split] for split in SPLITS):
        raise ValueError(f"{archive}: expected train/<class>/*.jpg and test/<class>/*.jpg with at least 2 classes")
    arrays = {}
    for split in SPLITS:
        rows = sorted(members[split], key=lambda row: (row[0], row[1]))
        unknown = {label for label, _, _ in rows} - set(class_names)
        if unknown:
            raise ValueError(f"{archive}: {split} has classes the training split lacks: {sorted(unknown)}")
        images = np.stack([pixels for _, _, pixels in rows])
        labels = np.array([class_names.index(label) for label, _, _ in rows], dtype=np.int64)
        arrays[split] = (images, labels)
    return CifarData(tuple(class_names), *arrays["train"], *arrays["test"], archive_sha256=digest)


def _decode(data: bytes, name: str) -> np.ndarray:
    try:
        decoded = decode_photo(data, max_pixels=SIDE * SIDE * 64)
    except PhotoRejected as error:
        raise ValueError(f"{name}: {error}") from error
    image = decoded.image if decoded.image.size == (SIDE, SIDE) else squash(decoded.image, SIDE)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
