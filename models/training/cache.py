"""Decode every photo once, by the service's own decoder, and keep them as uint8 tensors on disk.

Each epoch then costs only augmentation and the network, not JPEG decoding.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from camserve.models.dataset import ImageFolder
from camserve.models.files import atomic_write
from camserve.models.inference.decode import PhotoRejected, decode_photo
from camserve.models.inference.preprocess import squash

CACHE_MAX_PIXELS = 100_000_000


def _decode_square(task: tuple[Path, int]) -> np.ndarray | str:
    """The photo as (3, size, size) uint8, or why it cannot be read (decoding, as the service would)."""
    path, size = task
    try:
        decoded = decode_photo(path.read_bytes(), CACHE_MAX_PIXELS, min_decode_size=size)
    except (OSError, PhotoRejected) as error:
        return f"{path}: {error}"
    return np.asarray(squash(decoded.image, size), dtype=np.uint8).transpose(2, 0, 1)


def decode_all(files: Sequence[Path], size: int, workers: int | None = None) -> torch.Tensor:
    """(N, 3, size, size) uint8, decoded on every core."""
    workers = workers or os.cpu_count() or 1
    tasks = [(path, size) for path in files]
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    unreadable = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        decoded = pool.map(_decode_square, tasks, chunksize=64)
        for index, pixels in enumerate(tqdm(decoded, total=len(tasks), desc=f"decode {size}px", unit="photo")):
            if isinstance(pixels, str):
                unreadable.append(pixels)
            else:
                images[index] = torch.from_numpy(pixels)
    if unreadable:
        shown = "; ".join(unreadable[:5]) + (f"; and {len(unreadable) - 5} more" if len(unreadable) > 5 else "")
        raise ValueError(f"{len(unreadable)} photos cannot be read; remove or fix them: {shown}")
    return images


def cached_images(folder: ImageFolder, size: int, cache_dir: Path) -> torch.Tensor:
    """The decoded photos of ``folder`` at ``size``, from ``cache_dir`` when an identical list was seen before."""
    path = Path(cache_dir) / f"images-{folder.digest()}-{size}px.safetensors"
    if path.is_file():
        return load_file(str(path))["images"]
    images = decode_all(folder.files, size)
    with atomic_write(path) as staged:
        save_file({"images": images}, str(staged))
    return images
