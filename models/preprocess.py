"""Turn a decoded RGB photo into the network's input, exactly as training and evaluation see it."""

import numpy as np
import torch
from PIL import Image

from models.metadata import ModelMetadata


def to_model_input(photo: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """Squash the whole photo to input_size x input_size (no crop), so class maps cover every pixel.

    Squashing rather than cropping keeps the map-to-photo mapping a plain per-axis scale, which is what
    lets the heatmap line up with the original photo for any aspect ratio. The arithmetic is numpy, not
    torch: torch ops on request threads would start an OpenMP thread team per thread, whose spinning
    workers then compete with the inference thread for the cores.
    """
    if photo.mode != "RGB":
        raise ValueError(f"expected an RGB photo, got mode {photo.mode}")
    resized = squash(photo, metadata.input_size)
    mean = np.asarray(metadata.mean, dtype=np.float32)[:, None, None] * 255.0
    scale = 1.0 / (np.asarray(metadata.std, dtype=np.float32)[:, None, None] * 255.0)
    # Channels first while still uint8, then in place: a quarter of the memory traffic of normalising
    # (H, W, 3) floats and transposing them afterwards, and the same values (bench/prepare.py times it).
    pixels = np.asarray(resized).transpose(2, 0, 1).astype(np.float32, order="C")
    pixels -= mean
    pixels *= scale
    return torch.from_numpy(pixels)


def squash(photo: Image.Image, size: int) -> Image.Image:
    """The whole photo resized to size x size, ignoring aspect ratio: the one resize training and serving share."""
    return photo.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
