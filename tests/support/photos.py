"""Photos for tests: the committed cat, encoded images with EXIF orientations, synthetic image folders, and
synthetic uploads that tell results apart (a numbered stream of small ones, seeded random ones)."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import camserve.models.inference.decode  # noqa: F401  (registers pillow-heif's HEIC writer too, for encode)

TESTS = Path(__file__).resolve().parent.parent
CHELSEA = TESTS / "chelsea.png"
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

# PIL transpose that, applied to the upright photo before saving, EXIF orientation N undoes.
STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

PHONE_SIZE = (4000, 3000)  # 12 MP, a phone camera's photo
# Settings that keep encoding a 12 MP HEIC or AVIF to a second or two (x265's and libaom's defaults take ten times
# longer): the tests need the formats, not small files.
QUICK_ENCODINGS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 90},
    "HEIF": {"quality": 60, "enc_params": {"preset": "ultrafast"}},
    "AVIF": {"quality": 60, "speed": 10},
}

CAT_RGB = (200, 60, 50)  # synthetic "cat" photos are red-ish
DOG_RGB = (50, 70, 200)  # synthetic "dog" photos are blue-ish
SYNTHETIC_PER_CLASS = 12
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def encode_quickly(image: Image.Image, fmt: str, **params: object) -> bytes:
    """``image`` as ``fmt`` (a key of QUICK_ENCODINGS) with its quick settings, and any ``params`` besides."""
    return encode(image, fmt, **QUICK_ENCODINGS[fmt], **params)


def phone_sized_chelsea() -> Image.Image:
    """The committed cat resized to a phone's 12 MP (slightly stretched: 4:3 from 3:2)."""
    with Image.open(CHELSEA) as chelsea:
        return chelsea.convert("RGB").resize(PHONE_SIZE, Image.Resampling.BICUBIC)


def with_declared_size(heif: bytes, width: int, height: int) -> bytes:
    """A HEIC or AVIF whose header (its ispe box) claims ``width`` x ``height``: a decompression bomb's header
    on the pixels of a small photo. The box is its size, type, version and flags, then width and height. A clean
    aperture (clap: HEVC codes whole 64-pixel blocks, so other sizes are cropped) would set the size instead."""
    assert b"clap" not in heif, "encode a photo whose sides are multiples of 64"
    at = heif.index(b"ispe") + 8
    return heif[:at] + struct.pack(">II", width, height) + heif[at + 8 :]


def small_photo(n: int) -> tuple[str, bytes, str]:
    """The n-th upload: a 64x48 picture whose colours no other n shares, PNG and JPEG in turn."""
    colour = ((n * 37) % 256, (n * 91) % 256, (n * 151) % 256)
    image = Image.new("RGB", (64, 48), colour)
    ImageDraw.Draw(image).rectangle((n % 32, 8, n % 32 + 24, 32), fill=(255 - colour[0], n % 256, 128))
    if n % 2:
        return f"photo-{n}.jpg", encode(image, "JPEG", quality=90), "image/jpeg"
    return f"photo-{n}.png", encode(image), "image/png"


def random_photo(seed: int) -> bytes:
    """Different sizes, aspect ratios and content, so a mixed-up result would show."""
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(64, 640)), int(rng.integers(64, 640))
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG" if seed % 2 else "PNG")


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def photo_with_patch(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """A white photo with one pure-red rectangle (left, top, right, bottom)."""
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = (255, 0, 0)
    return Image.fromarray(pixels)


def write_image_folder(
    root: Path,
    colours: dict[str, tuple[int, int, int]] | None = None,
    per_class: int = SYNTHETIC_PER_CLASS,
    size: tuple[int, int] = (48, 40),
    seed: int = 0,
) -> Path:
    """``root/<class>/<class>-<i>.jpg``: per class, noisy JPEGs around one colour (red cats, blue dogs).

    Seeded, so the files (and their sizes, which the image cache's digest depends on) are reproducible.
    """
    colours = colours or {"cat": CAT_RGB, "dog": DOG_RGB}
    generator = np.random.default_rng(seed)
    width, height = size
    for name, colour in colours.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            noise = generator.normal(0.0, 25.0, size=(height, width, 3))
            pixels = np.clip(np.asarray(colour, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}-{index:02d}.jpg", quality=90)
    return root


def write_patch_folder(root: Path) -> Path:
    """``root/red/``: white photos of several shapes with one small red patch each, whose red-patch model map
    is concentrated on the patch; ``root/other/``: plain blue photos, whose map is flat. PNG, so exact."""
    (root / "red").mkdir(parents=True, exist_ok=True)
    (root / "other").mkdir(parents=True, exist_ok=True)
    patches = [(640, 480, (400, 60, 470, 130)), (300, 500, (40, 350, 90, 420)), (800, 450, (100, 300, 180, 380))]
    for index, (width, height, box) in enumerate(patches):
        (root / "red" / f"red-{index}.png").write_bytes(encode(photo_with_patch(width, height, box)))
        (root / "other" / f"other-{index}.png").write_bytes(encode(Image.new("RGB", (width, height), DOG_RGB)))
    return root


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny, valid-looking 8-bit RGB PNG whose IHDR claims ``width`` x ``height``; its data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
