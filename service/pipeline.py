"""The two halves of the data path, shared by the HTTP service and the offline CLI.

prepare: photo bytes -> decode (reduced-size where possible) -> model input tensor.
render:  stored photo bytes + small class maps -> upsampled, coloured, blended PNG at the photo's size.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch

from models.metadata import ModelMetadata
from models.preprocess import to_model_input
from service.decode import DecodedPhoto, decode_photo
from service.render import Colormap, blend, colorize, encode_png, select_cam, upsample


class Picture(StrEnum):
    overlay = "overlay"
    heatmap = "heatmap"


@dataclass(frozen=True)
class PreparedPhoto:
    tensor: torch.Tensor
    width: int
    height: int


def decode_for_model(data: bytes, metadata: ModelMetadata, max_pixels: int) -> DecodedPhoto:
    """Decode only as large as the model input needs (reduced-size JPEG decoding)."""
    return decode_photo(data, max_pixels, min_decode_size=metadata.input_size)


def prepare(data: bytes, metadata: ModelMetadata, max_pixels: int) -> PreparedPhoto:
    decoded = decode_for_model(data, metadata, max_pixels)
    return PreparedPhoto(to_model_input(decoded.image, metadata), decoded.width, decoded.height)


@dataclass(frozen=True)
class RenderRequest:
    picture: Picture
    alpha: float
    colormap: Colormap
    class_index: int | None


def render(
    photo_bytes: bytes,
    class_maps: np.ndarray,
    probabilities: np.ndarray,
    request: RenderRequest,
    max_pixels: int,
    compression: int,
) -> bytes:
    photo = np.asarray(decode_photo(photo_bytes, max_pixels).image)
    height, width = photo.shape[:2]
    cam = upsample(select_cam(class_maps, probabilities, request.class_index), width, height)
    heatmap = colorize(cam, request.colormap)
    picture = heatmap if request.picture is Picture.heatmap else blend(photo, heatmap, request.alpha)
    return encode_png(picture, compression)
