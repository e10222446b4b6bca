"""A CIFAR-shaped archive for tests: ``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``, 32x32 JPEG
quality 75 like the shared copy, each class a colour plus noise so a few steps can learn it."""

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.photos import SHARED_DATA

CIFAR_ARCHIVE = SHARED_DATA / "cifar10" / "cifar10-jpeg.tar.gz"
TINY_CLASSES = ("bird", "cat", "airplane")  # not in sorted order: loading must sort them
TINY_COLOURS = {"airplane": (200, 40, 40), "bird": (40, 200, 40), "cat": (40, 40, 200)}


def write_cifar_archive(path: Path, train_per_class: int = 12, test_per_class: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            for label in TINY_CLASSES:
                for index in range(count):
                    noise = rng.integers(-40, 40, size=(32, 32, 3))
                    pixels = np.clip(np.array(TINY_COLOURS[label]) + noise, 0, 255).astype(np.uint8)
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, format="JPEG", quality=75)
                    member = tarfile.TarInfo(f"cifar10/{split}/{label}/{index:04d}.jpg")
                    member.size = buffer.tell()
                    buffer.seek(0)
                    tar.addfile(member, buffer)
    return path


def shared_cifar_test_images(per_class: int) -> list[tuple[str, bytes]]:
    """The first ``per_class`` test images of each class from the shared CIFAR-10 archive, as (class, JPEG
    bytes); the caller skips where the archive is absent."""
    wanted: list[tuple[str, bytes]] = []
    with tarfile.open(CIFAR_ARCHIVE, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) >= 3 and parts[-3] == "test" and int(Path(parts[-1]).stem) < per_class:
                stream = tar.extractfile(member)
                assert stream is not None
                wanted.append((parts[-2], stream.read()))
    return sorted(wanted)
