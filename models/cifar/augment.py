"""The lesson's CIFAR-10 augmentation, batched on the device the images live on: ``tfms_from_stats(stats, 32,
aug_tfms=[RandomFlip()], pad=4)``, i.e. reflect-pad 4 pixels, a random 32x32 crop, a horizontal flip half the
time. The same draws make the lesson's test-time augmentation views (``learn.TTA()``)."""

import torch

PAD = 4  # sz // 8 at 32 px


def pad_crop_flip(images: torch.Tensor, generator: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> (N, 3, S, S) float 0..255: each image reflect-padded by ``pad``, cropped back to
    S at a random offset, and mirrored left-right with probability 1/2. Draws come from the CPU ``generator``."""
    count, _, height, width = images.shape
    padded = reflect_pad(images.float(), pad)
    tops = torch.randint(0, 2 * pad + 1, (count,), generator=generator).to(images.device)
    lefts = torch.randint(0, 2 * pad + 1, (count,), generator=generator).to(images.device)
    flips = (torch.rand(count, generator=generator) < 0.5).to(images.device)
    rows = tops[:, None] + torch.arange(height, device=images.device)
    columns = lefts[:, None] + torch.arange(width, device=images.device)
    columns = torch.where(flips[:, None], columns.flip(1), columns)
    batch = torch.arange(count, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], columns[:, None, None, :]]


def reflect_pad(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dimensions as OpenCV's ``BORDER_REFLECT`` (fastai 0.7's ``pad_mode``): the border
    mirrors the image including its edge pixel, ``cba|abc``; PyTorch's ``reflect`` would skip it."""
    if pad == 0:
        return images
    rows = torch.cat([images[..., :pad, :].flip(-2), images, images[..., -pad:, :].flip(-2)], dim=-2)
    return torch.cat([rows[..., :pad].flip(-1), rows, rows[..., -pad:].flip(-1)], dim=-1)
