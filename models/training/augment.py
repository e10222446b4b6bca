"""Batched photo augmentation on cached uint8 tensors: random resized crops, flips and mild colour jitter.

The random draws come from a CPU generator (reproducible on any device); the pixels stay on the device
the photos live on, so a GPU run augments on the GPU.
"""

import math
from dataclasses import dataclass

import torch
from torch.nn import functional

from camserve.models.metadata import ModelMetadata


@dataclass(frozen=True)
class Augmentation:
    """Crop area as a fraction of the photo, crop aspect range, and the colour jitter's relative strength."""

    min_area: float = 0.35
    min_aspect: float = 3 / 4
    max_aspect: float = 4 / 3
    jitter: float = 0.2

    def __call__(self, images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
        """(N, 3, H, W) uint8 -> (N, 3, size, size) float in 0..255."""
        crops = [self._crop(image, size, generator) for image in images]
        batch = torch.stack(crops)
        flip = (torch.rand(len(batch), generator=generator) < 0.5).to(batch.device)
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        return self._jitter(batch, generator).clamp_(0.0, 255.0)

    def _crop(self, image: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
        height, width = image.shape[-2:]
        area = height * width * (self.min_area + (1 - self.min_area) * torch.rand(1, generator=generator).item())
        log_low, log_high = math.log(self.min_aspect), math.log(self.max_aspect)
        aspect = math.exp(log_low + (log_high - log_low) * torch.rand(1, generator=generator).item())
        crop_w = min(width, max(1, round(math.sqrt(area * aspect))))
        crop_h = min(height, max(1, round(math.sqrt(area / aspect))))
        top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
        crop = image[None, :, top : top + crop_h, left : left + crop_w].float()
        return functional.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]

    def _jitter(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        def factors() -> torch.Tensor:
            draws = torch.rand(len(batch), 1, 1, 1, generator=generator).to(batch.device)
            return 1 + self.jitter * (2 * draws - 1)

        luma = torch.tensor([0.299, 0.587, 0.114], device=batch.device).view(1, 3, 1, 1)
        gray = (batch * luma).sum(dim=1, keepdim=True)
        batch = gray + (batch - gray) * factors()  # saturation
        mean = gray.mean(dim=(2, 3), keepdim=True)
        batch = mean + (batch - mean) * factors()  # contrast
        return batch * factors()  # brightness


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """Squash uint8 photos to size x size as float 0..255, with no augmentation (validation)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images.float()
    return functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)


def standardise(batch: torch.Tensor, metadata: ModelMetadata) -> torch.Tensor:
    """0..255 floats to the network's input, channels_last, with the checkpoint's mean and std."""
    mean = torch.tensor(metadata.mean, device=batch.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(metadata.std, device=batch.device).view(1, 3, 1, 1) * 255.0
    return ((batch - mean) / std).contiguous(memory_format=torch.channels_last)
