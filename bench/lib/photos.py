"""The JPEGs the benchmarks upload: real cats and dogs where the photos are present, generated ones otherwise.

Generated photos are smooth gradients with soft shapes and grain, so they compress roughly like a photo
(unlike noise, incompressible, or flat colour, free) and decode and encode timings stay meaningful.
"""

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from bench.lib.paths import CATSDOGS, CHELSEA

# The sizes the load benchmarks send, a phone photo's among them.
SIZES = [(200, 200), (500, 375), (375, 500), (1024, 768), (1600, 1200)]


@dataclass(frozen=True)
class Photo:
    name: str
    width: int
    height: int
    data: bytes


def build_photos(sources_per_class: int, seed: int) -> tuple[list[Photo], str]:
    """Every source photo at every size in SIZES, JPEG quality 90, shuffled once so each level sees a mix; and
    where the sources came from (``catsdogs`` or ``generated``).

    Real photos are cropped to each size's aspect ratio (no squashing) and kept in memory, never copied.
    """
    rng = np.random.default_rng(seed)
    sources: list[tuple[str, Image.Image]] = []
    if CATSDOGS.is_dir():
        for label in ("cat", "dog"):
            paths = sorted((CATSDOGS / label).glob("*.jpg"))[:sources_per_class]
            sources += [(path.stem, ImageOps.exif_transpose(Image.open(path)).convert("RGB")) for path in paths]
    origin = "catsdogs" if sources else "generated"
    if not sources:
        largest = max(SIZES)
        sources = [(f"generated.{i}", synthetic_photo(*largest, rng)) for i in range(2 * sources_per_class)]
    photos = [
        Photo(f"{name}@{w}x{h}", w, h, jpeg_bytes(ImageOps.fit(image, (w, h), Image.Resampling.LANCZOS)))
        for name, image in sources
        for w, h in SIZES
    ]
    random.Random(seed).shuffle(photos)
    return photos, origin


def generated_photos(sizes: list[tuple[int, int]], per_size: int, seed: int) -> list[Photo]:
    """``per_size`` distinct generated JPEGs at each size, interleaved so consecutive photos differ in size."""
    rng = np.random.default_rng(seed)
    return [
        Photo(f"generated.{i}@{w}x{h}", w, h, jpeg_bytes(synthetic_photo(w, h, rng)))
        for i in range(per_size)
        for w, h in sizes
    ]


def synthetic_photo(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A photo-like RGB picture: smooth colour gradients with a few soft-edged shapes, and grain."""
    corners = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(corners, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, x1 = sorted(rng.integers(0, width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, height, size=2).tolist())
        colour = tuple(rng.integers(0, 256, size=3).tolist())
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    grain = rng.normal(0.0, 4.0, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """Encode in memory, the way a camera or phone upload would arrive."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def large_photo(width: int, height: int, seed: int) -> Photo:
    """``tests/chelsea.png`` (a cat, so the heatmap is concentrated and zoom is used) stretched to a phone
    camera's size, with grain so the JPEG is as large as a camera's, not the few hundred KB a smooth one is."""
    rng = np.random.default_rng(seed)
    image = Image.open(CHELSEA).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.int16)
    pixels += rng.integers(-6, 7, size=pixels.shape, dtype=np.int16)
    grainy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return Photo(f"chelsea.{seed}@{width}x{height}", width, height, jpeg_bytes(grainy))
