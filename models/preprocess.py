"""Turn a decoded RGB photo into the network's input, exactly as training and evaluation see it."""

import numpy as np
import torch
from PIL import Image

from models.metadata import ModelMetadata


def to_model_input(photo: Image.Image, metadata: ModelMetadata) -> torch.Tensor:
    """Squash the whole photo to input_size x input_size (no crop), so class maps cover every pixel.

    Squashing rather than cropping keeps the map-to-photo mapping a plain per-axis scale, which is what
    lets the heatmap line up with the original photo for any aspect ratio.
    """
    if photo.mode != "RGB":
        raise ValueError(f"expected an RGB photo, got mode {photo.mode}")
    size = metadata.input_size
    resized = photo.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(metadata.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(metadata.std, dtype=torch.float32).view(3, 1, 1)
    return (pixels - mean) / std
