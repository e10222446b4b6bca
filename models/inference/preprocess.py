"""Photo bytes to the network's input, exactly as serving, training and evaluation all see it."""

from dataclasses import dataclass

import numpy as np
from PIL import Image

from camserve.models.inference.decode import DecodedPhoto, OpenedPhoto, open_photo
from camserve.models.metadata import ModelMetadata

__all__ = [
    "PreparedPhoto",
    "decode_for_model",
    "open_for_model",
    "prepare",
    "prepare_opened",
    "squash",
    "standardise",
    "to_model_input",
]


@dataclass(frozen=True)
class PreparedPhoto:
    """The model input (3, S, S) float32, and the size of the photo as uploaded (after EXIF orientation)."""

    pixels: np.ndarray
    width: int
    height: int


def open_for_model(data: bytes, metadata: ModelMetadata, max_pixels: int) -> OpenedPhoto:
    """The photo's header, to be decoded only as large as the model input needs (reduced-size JPEG decoding)."""
    return open_photo(data, max_pixels, min_decode_size=metadata.input_size)


def decode_for_model(data: bytes, metadata: ModelMetadata, max_pixels: int) -> DecodedPhoto:
    """Decode only as large as the model input needs (reduced-size JPEG decoding)."""
    return open_for_model(data, metadata, max_pixels).decode()


def prepare(data: bytes, metadata: ModelMetadata, max_pixels: int) -> PreparedPhoto:
    return prepare_opened(open_for_model(data, metadata, max_pixels), metadata)


def prepare_opened(opened: OpenedPhoto, metadata: ModelMetadata) -> PreparedPhoto:
    """The model input of a photo opened by ``open_for_model``: decoded, squashed, standardised."""
    decoded = opened.decode()
    return PreparedPhoto(to_model_input(decoded.image, metadata), decoded.width, decoded.height)


def to_model_input(photo: Image.Image, metadata: ModelMetadata) -> np.ndarray:
    """Squash the whole photo to input_size x input_size (no crop), so class maps cover every pixel.

    Squashing rather than cropping keeps the map-to-photo mapping a plain per-axis scale, which is what
    lets the heatmap line up with the original photo for any aspect ratio. The arithmetic is numpy, not
    torch: torch ops on request threads would start an OpenMP thread team per thread, whose spinning
    workers then compete with the inference thread for the cores.
    """
    if photo.mode != "RGB":
        raise ValueError(f"expected an RGB photo, got mode {photo.mode}")
    # Channels first while still uint8: a quarter of the memory traffic of normalising (H, W, 3) floats and
    # transposing them afterwards, and the same values (bench/prepare.py times it).
    return standardise(np.asarray(squash(photo, metadata.input_size)).transpose(2, 0, 1), metadata)


def standardise(pixels: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """0..255 pixels, channels first ((..., 3, H, W)), to the network's input: float32 in C order, with the
    checkpoint's mean and std; converted once, then standardised in place."""
    mean = np.asarray(metadata.mean, dtype=np.float32)[:, None, None] * 255.0
    scale = 1.0 / (np.asarray(metadata.std, dtype=np.float32)[:, None, None] * 255.0)
    standardised = pixels.astype(np.float32, order="C")
    standardised -= mean
    standardised *= scale
    return standardised


def squash(photo: Image.Image, size: int) -> Image.Image:
    """The whole photo resized to size x size, ignoring aspect ratio: the one resize training and serving share."""
    return photo.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
