"""Photo bytes to an upright RGB image: format allow-list, pixel limit, EXIF orientation, mode handling.

HEIC (phones' photos) is read by pillow-heif, whose wheels bundle libheif and its HEVC decoder; AVIF by Pillow's
own plugin (its wheels bundle libavif). Both read orientation from the container: libheif turns a HEIC upright
as it decodes (and pillow-heif resets its EXIF orientation to 1), Pillow reports an AVIF's irot/imir as its EXIF
orientation, which ``decode`` then applies as for a JPEG.
"""

import io
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, UnidentifiedImageError

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "AVIF", "HEIF")
EXIF_ORIENTATION_TAG = 0x0112
HEIF_BRAND_END = 12  # the ISO BMFF ftyp box's major brand: b"heic", b"avif", ...
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
BACKGROUND = (255, 255, 255)
# The most a decode holds per decoded pixel: PIL keeps 4 bytes a pixel (RGB as RGBX), a byte more for the
# squash's reduced copy and the allocator; a transposed copy (EXIF orientation); and for other modes the
# conversions (alpha over white: RGBA, canvas, composite, RGB) or a 16-bit photo's float32 and uint8 arrays.
DECODE_BYTES_PER_PIXEL = 5
TRANSPOSE_BYTES_PER_PIXEL = 4
CONVERSION_BYTES_PER_PIXEL = 16
# What a HEIC's or an AVIF's decoder holds beside PIL's pixels until the photo is closed: its YCbCr planes (1.5 to
# 6 bytes a pixel, by chroma subsampling and bit depth) and the RGB copy it hands to PIL. Neither format can be
# decoded at a reduced size, so this is per photo pixel. Measured peaks of a 12 MP decode for the model, 8-bit
# 4:2:0 / 4:4:4, in bytes a pixel: JPEG 4.3; HEIC 7.3 / 9.3 (10-bit 4:2:0: 7.8); AVIF 9.4 / 11.1.
CODEC_BYTES_PER_PIXEL = {"HEIF": 8, "AVIF": 10}
# What turns a photo stored with EXIF orientation N upright (the same table as ImageOps.exif_transpose).
# Applied directly, because exif_transpose also re-serialises the EXIF block and raises TypeError or
# struct.error on a mistyped tag elsewhere in it, which would turn a readable photo into a 500.
UPRIGHT_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Once, at import: Image.open then reads HEIC by name (SUPPORTED_FORMATS). Thumbnails, depth maps and auxiliary
# images are never shown, so they are not even listed.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


class PhotoRejected(ValueError):
    """Base of every reason a photo is refused; the message is meant for the person who sent it."""


class UnsupportedPhoto(PhotoRejected):
    """Not an image, or a format camserve does not read."""


class PhotoTooLarge(PhotoRejected):
    """More pixels than the configured limit (decompression-bomb guard)."""


class CorruptPhoto(PhotoRejected):
    """Looks like a supported image but its data cannot be decoded."""


@dataclass(frozen=True)
class DecodedPhoto:
    """An upright RGB image and the size of the photo as uploaded (after EXIF orientation).

    ``image`` may be smaller than ``width`` x ``height`` when a reduced-size JPEG decode was asked for.
    """

    image: Image.Image
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class OpenedPhoto:
    """A photo whose header is read and checked but whose pixels are not decoded yet: what decoding it will
    hold (``decoded_pixels``) is known before it allocates, so a caller can wait for the memory first."""

    image: Image.Image  # not loaded; a reduced-size JPEG decode already asked for (draft)
    width: int  # the photo as uploaded, after EXIF orientation
    height: int
    orientation: int | None

    @property
    def decoded_pixels(self) -> int:
        """Pixels ``decode`` will produce: the photo's, or fewer where a reduced-size decode applies."""
        return self.image.width * self.image.height

    @property
    def codec_bytes(self) -> int:
        """What the format's own decoder holds beside PIL's pixels from ``decode`` until the photo is closed."""
        return self.decoded_pixels * CODEC_BYTES_PER_PIXEL.get(self.image.format or "", 0)

    @property
    def decode_bytes(self) -> int:
        """The most memory ``decode`` will hold at once (an RGB JPEG, the usual photo, is the cheapest)."""
        per_pixel = DECODE_BYTES_PER_PIXEL
        if self.orientation in UPRIGHT_TRANSPOSE:
            per_pixel += TRANSPOSE_BYTES_PER_PIXEL
        if self.image.mode != "RGB" or "transparency" in self.image.info:
            per_pixel += CONVERSION_BYTES_PER_PIXEL
        return self.decoded_pixels * per_pixel + self.codec_bytes

    def decode(self) -> DecodedPhoto:
        """The upright RGB image."""
        image = self.image
        try:
            image.load()
            upright = (
                image.transpose(UPRIGHT_TRANSPOSE[self.orientation]) if self.orientation in UPRIGHT_TRANSPOSE else image
            )
            rgb = _to_rgb(upright)
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
            raise CorruptPhoto(f"the image data could not be decoded: {error}") from error
        return DecodedPhoto(rgb, self.width, self.height, image.format or "unknown")

    def decode_array(self) -> np.ndarray:
        """Decoded as by ``decode``, as an (H, W, 3) uint8 array. PIL's own copy, 4 bytes a pixel, is let go as
        soon as the array is made rather than held beside it: this photo cannot be decoded again."""
        rgb = self.decode().image
        try:
            return np.asarray(rgb)
        finally:
            rgb.close()
            self.image.close()


def open_photo(data: bytes, max_pixels: int, min_decode_size: int | None = None) -> OpenedPhoto:
    """Read ``data``'s header: format allow-list, pixel limit, EXIF orientation. With ``min_decode_size``, JPEGs
    will be decoded at the smallest DCT scale that still gives at least that many pixels on each side."""
    if not data:
        raise UnsupportedPhoto("the uploaded file is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError as error:
        if pillow_heif.get_file_mimetype(data[:HEIF_BRAND_END]):
            # A HEIC's or AVIF's header names its item locations: one cut short fails to open, not to decode.
            raise CorruptPhoto("the HEIF/AVIF container could not be read (a truncated or damaged file?)") from error
        raise UnsupportedPhoto(f"not an image in a supported format ({', '.join(SUPPORTED_FORMATS)})") from error
    except Image.DecompressionBombError as error:
        raise PhotoTooLarge(f"the photo has too many pixels (limit {max_pixels:,})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise CorruptPhoto(f"the image header could not be read: {error}") from error

    width, height = image.size
    if width * height > max_pixels:
        raise PhotoTooLarge(f"the photo has {width * height:,} pixels; the limit is {max_pixels:,}")
    orientation = _orientation(image)
    if orientation in TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    if min_decode_size and image.format == "JPEG":
        image.draft("RGB", (min_decode_size, min_decode_size))
    return OpenedPhoto(image, width, height, orientation)


def decode_photo(data: bytes, max_pixels: int, min_decode_size: int | None = None) -> DecodedPhoto:
    """Decode ``data`` (``open_photo``, then its pixels); ``min_decode_size`` as there: all the model input needs."""
    return open_photo(data, max_pixels, min_decode_size).decode()


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation, or None where there is none or it is unreadable (then the photo is left as is)."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG)
    except (OSError, SyntaxError, ValueError, TypeError):
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB: 16-bit scaled (not clipped), transparency composited over white."""
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
        if image.mode != "F" or pixels.max(initial=0.0) > 255.0:
            pixels = pixels / 257.0
        gray = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), mode="L")
        return gray.convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
