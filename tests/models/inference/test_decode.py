"""decode_photo: every accepted format and mode becomes upright 8-bit RGB, and every bad upload is a PhotoRejected.

Uploads are untrusted, so anything other than a DecodedPhoto or a PhotoRejected subclass would reach the client
as a 500; orientation and size reporting feed the heatmap alignment, so they are checked pixel by pixel.
"""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from camserve.models.inference.decode import (
    CorruptPhoto,
    DecodedPhoto,
    PhotoRejected,
    PhotoTooLarge,
    UnsupportedPhoto,
    decode_photo,
    open_photo,
)
from tests.support.photos import (
    PHONE_SIZE,
    STORED_FOR_ORIENTATION,
    encode,
    exif_with_orientation,
    png_header_only,
    with_declared_size,
)

MAX_PIXELS = 50_000_000
# The most a 12 MP decode for the model was measured to hold (8-bit 4:4:4; CODEC_BYTES_PER_PIXEL's comment).
MEASURED_DECODE_PEAK_BYTES_PER_PIXEL = {"HEIF": 9.3, "AVIF": 11.1}
WHITE = (255, 255, 255)
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def pixels(decoded: DecodedPhoto) -> np.ndarray:
    """The decoded image as an int array, after checking it is the promised 8-bit RGB."""
    assert decoded.image.mode == "RGB"
    return np.asarray(decoded.image, dtype=np.int32)


def assert_colour(actual: np.ndarray, expected: tuple[int, int, int], tolerance: int = 0) -> None:
    assert np.abs(actual - np.array(expected)).max() <= tolerance, f"{actual.tolist()} is not {expected}"


def marked_photo(width: int = 60, height: int = 40) -> Image.Image:
    """White, with a red block at the top-left corner and a blue one at the top-right: only the identity among
    the eight EXIF orientations leaves both where they are, so a wrong transpose always moves one of them."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    image[:12, :12] = RED
    image[:12, -12:] = BLUE
    return Image.fromarray(image)


def assert_marked_upright(decoded: DecodedPhoto, width: int = 60, height: int = 40) -> None:
    assert (decoded.width, decoded.height) == (width, height)
    assert decoded.image.size == (width, height)
    array = pixels(decoded)
    assert_colour(array[5, 5], RED, tolerance=40)
    assert_colour(array[5, -6], BLUE, tolerance=40)
    assert_colour(array[-6, 5], WHITE, tolerance=40)
    assert_colour(array[-6, -6], WHITE, tolerance=40)


# --- formats -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("JPEG", {"quality": 95}, 8),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 12),
        ("BMP", {}, 0),
        ("GIF", {}, 0),
        ("HEIF", {"quality": 90}, 8),
        ("AVIF", {"quality": 90}, 8),
    ],
)
def test_every_supported_format_decodes_to_rgb(fmt: str, params: dict[str, object], tolerance: int) -> None:
    """Each allowed format is accepted, reported by name, and keeps its colour (GIF via its palette)."""
    data = encode(Image.new("RGB", (32, 24), (200, 40, 10)), fmt, **params)
    decoded = decode_photo(data, MAX_PIXELS)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (32, 24)
    assert_colour(pixels(decoded)[12, 16], (200, 40, 10), tolerance)


def test_animated_gif_gives_its_first_frame() -> None:
    """Only the first frame is the photo; later frames must not leak in."""
    frames = [Image.new("RGB", (20, 10), colour).convert("P") for colour in (RED, BLUE, (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = decode_photo(buffer.getvalue(), MAX_PIXELS)
    assert decoded.format == "GIF"
    assert (decoded.width, decoded.height) == (20, 10)
    assert (pixels(decoded) == RED).all()


# --- modes ---------------------------------------------------------------------------------------------------


def test_grayscale_becomes_equal_channels() -> None:
    gray = Image.fromarray(np.array([[0, 100, 255]], dtype=np.uint8), mode="L")
    assert pixels(decode_photo(encode(gray), MAX_PIXELS)).tolist() == [[[0] * 3, [100] * 3, [255] * 3]]


def test_palette_maps_through_its_palette() -> None:
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([10, 20, 30, 200, 150, 100] + [0] * (256 * 3 - 6))
    palette_image.putdata([0, 1])
    assert pixels(decode_photo(encode(palette_image), MAX_PIXELS)).tolist() == [[[10, 20, 30], [200, 150, 100]]]


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt: str) -> None:
    """The transparent palette entry is composited over white, whatever colour the palette gives it."""
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([0, 0, 0, 200, 0, 0] + [0] * (256 * 3 - 6))
    palette_image.putdata([0, 1])
    decoded = decode_photo(encode(palette_image, fmt, transparency=0), MAX_PIXELS)
    assert pixels(decoded).tolist() == [[list(WHITE), [200, 0, 0]]]


@pytest.mark.parametrize(("fmt", "params"), [("PNG", {}), ("WEBP", {"lossless": True, "exact": True})])
def test_rgba_transparent_pixels_become_white(fmt: str, params: dict[str, object]) -> None:
    """Transparent pixels hide arbitrary RGB (black here); the photo must show white, half alpha blends."""
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 128], [10, 200, 30, 255]]], dtype=np.uint8)
    decoded = decode_photo(encode(Image.fromarray(rgba, mode="RGBA"), fmt, **params), MAX_PIXELS)
    array = pixels(decoded)
    assert_colour(array[0, 0], WHITE)
    assert_colour(array[0, 1], (127, 127, 127), tolerance=1)
    assert_colour(array[0, 2], (10, 200, 30))


def test_gray_with_alpha_composites_over_white() -> None:
    la = np.array([[[0, 0], [50, 255]]], dtype=np.uint8)
    decoded = decode_photo(encode(Image.fromarray(la, mode="LA")), MAX_PIXELS)
    assert pixels(decoded).tolist() == [[list(WHITE), [50] * 3]]


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    """16-bit samples span 0..65535; clipping to 255 would make nearly every pixel white."""
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode == "I;16"  # the case under test, as Pillow reads it
    decoded = decode_photo(data, MAX_PIXELS)
    gray = pixels(decoded)[0, :, 0]
    assert gray[0] == 0
    assert gray[1] == 1
    assert abs(int(gray[2]) - 128) <= 1
    assert gray[3] == 255
    assert (pixels(decoded)[..., 0] == pixels(decoded)[..., 2]).all()


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    decoded = decode_photo(encode(cmyk, "JPEG", quality=95), MAX_PIXELS)
    assert decoded.format == "JPEG"
    assert_colour(pixels(decoded)[8, 8], RED, tolerance=8)


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_one_bit_image_becomes_black_and_white(fmt: str) -> None:
    bilevel = Image.new("1", (2, 1))
    bilevel.putdata([0, 255])
    assert pixels(decode_photo(encode(bilevel, fmt), MAX_PIXELS)).tolist() == [[[0, 0, 0], list(WHITE)]]


# --- EXIF orientation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    """The stored pixels are turned; the decoder must turn them back and report the upright size."""
    stored = marked_photo().transpose(STORED_FOR_ORIENTATION[orientation])
    data = encode(stored, "JPEG", quality=95, exif=exif_with_orientation(orientation))
    assert_marked_upright(decode_photo(data, MAX_PIXELS))


@pytest.mark.parametrize("orientation", [1, 0, 9, 255])
def test_normal_or_invalid_orientation_leaves_photo_as_stored(orientation: int) -> None:
    data = encode(marked_photo(), "JPEG", quality=95, exif=exif_with_orientation(orientation))
    assert_marked_upright(decode_photo(data, MAX_PIXELS))


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_container_orientation_comes_out_as_exif_orientation_does(fmt: str, orientation: int) -> None:
    """HEIC and AVIF store the turn in the container (irot, imir), as phones do; the encoders write those from
    the EXIF orientation given and, like an iPhone, keep the EXIF tag too. Upright exactly as the same JPEG is,
    and never turned twice (once by the container, again by the tag)."""
    stored = marked_photo().transpose(STORED_FOR_ORIENTATION[orientation])
    data = encode(stored, fmt, quality=90, exif=exif_with_orientation(orientation).tobytes())
    assert b"irot" in data or b"imir" in data
    jpeg = encode(stored, "JPEG", quality=95, exif=exif_with_orientation(orientation))
    assert_marked_upright(decode_photo(jpeg, MAX_PIXELS))
    assert_marked_upright(decode_photo(data, MAX_PIXELS))


def test_orientation_applies_to_png_too() -> None:
    stored = marked_photo().transpose(STORED_FOR_ORIENTATION[6])
    assert_marked_upright(decode_photo(encode(stored, exif=exif_with_orientation(6)), MAX_PIXELS))


def test_orientation_with_a_mistyped_exif_tag_still_decodes() -> None:
    """Real cameras write odd EXIF. A tag whose stored type is not its standard one (here BitsPerSample as
    ASCII) made ImageOps.exif_transpose raise TypeError while re-serialising the EXIF block: a 500."""
    entries = [(0x0102, 2, 2, b"x\x00\x00\x00"), (0x0112, 3, 1, struct.pack("<HH", 6, 0))]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in entries)
    raw_exif = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    stored = marked_photo().transpose(STORED_FOR_ORIENTATION[6])
    assert_marked_upright(decode_photo(encode(stored, "JPEG", quality=95, exif=raw_exif), MAX_PIXELS))


# --- reduced-size JPEG decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "reported"), [(None, (2000, 1500)), (6, (1500, 2000))])
def test_reduced_decode_is_small_but_reports_the_full_size(orientation: int | None, reported: tuple[int, int]) -> None:
    """The model needs only min_decode_size pixels a side; the API still reports the photo's real (upright) size."""
    params = {} if orientation is None else {"exif": exif_with_orientation(orientation)}
    data = encode(Image.new("RGB", (2000, 1500), (10, 200, 30)), "JPEG", **params)
    decoded = decode_photo(data, MAX_PIXELS, min_decode_size=224)
    assert (decoded.width, decoded.height) == reported
    image_width, image_height = decoded.image.size
    assert min(image_width, image_height) >= 224
    assert image_width * image_height < 2000 * 1500
    assert (image_width > image_height) == (reported[0] > reported[1])  # turned upright as well
    assert decoded.image.mode == "RGB"


def test_full_decode_without_min_decode_size() -> None:
    data = encode(Image.new("RGB", (2000, 1500), (10, 200, 30)), "JPEG")
    assert decode_photo(data, MAX_PIXELS).image.size == (2000, 1500)


def test_reduced_decode_applies_only_to_jpeg() -> None:
    data = encode(Image.new("RGB", (2000, 1500), (10, 200, 30)))
    assert decode_photo(data, MAX_PIXELS, min_decode_size=224).image.size == (2000, 1500)


# --- rejections ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not a photo\n",
        encode(Image.new("RGB", (8, 8)), "TIFF"),
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
    ],
    ids=["empty", "text", "tiff", "svg", "png-signature-only"],
)
def test_unsupported_input_is_rejected(data: bytes) -> None:
    with pytest.raises(UnsupportedPhoto):
        decode_photo(data, MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "HEIF", "AVIF"])
def test_truncated_photo_is_corrupt(fmt: str) -> None:
    """Pillow reads the header of a half file but fails on its data (LOAD_TRUNCATED_IMAGES is off)."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(CorruptPhoto):
        decode_photo(data[: len(data) // 2], MAX_PIXELS)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("PNG", {}),
        ("WEBP", {}),
        ("BMP", {}),
        ("GIF", {}),
        ("HEIF", {}),
        ("AVIF", {}),
    ],
)
def test_any_truncation_is_a_rejection_or_a_photo(fmt: str, params: dict[str, object]) -> None:
    """Cut anywhere, an upload must give a result or a PhotoRejected, never some other exception (a 500)."""
    noise = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt, **params)
    step = max(1, len(data) // 150)
    for length in range(0, len(data), step):
        for min_decode_size in (None, 4):
            try:
                decoded = decode_photo(data[:length], MAX_PIXELS, min_decode_size)
            except PhotoRejected:
                continue
            assert decoded.image.mode == "RGB"


def test_huge_declared_size_is_refused_from_the_header() -> None:
    """A 100000 x 100000 claim in a 100-byte file must be refused before any pixel memory is allocated."""
    data = png_header_only(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(PhotoTooLarge):
        decode_photo(data, MAX_PIXELS)


def test_declared_size_over_our_limit_but_under_pillows_is_refused() -> None:
    """64 Mpx is below Pillow's own bomb guard, so decode_photo's limit is what stops it."""
    with pytest.raises(PhotoTooLarge, match="64,000,000"):
        decode_photo(png_header_only(8000, 8000), MAX_PIXELS)


@pytest.mark.parametrize(
    ("fmt", "declared", "refusal"),
    [
        ("HEIF", (8000, 8000), PhotoTooLarge),  # over our limit
        ("HEIF", (100_000, 100_000), PhotoTooLarge),  # over Pillow's bomb guard too
        ("AVIF", (8000, 8000), PhotoTooLarge),
        ("AVIF", (100_000, 100_000), CorruptPhoto),  # over libavif's own 16384 x 16384: its header is refused
    ],
)
def test_heif_and_avif_sizes_are_refused_from_the_header(
    fmt: str, declared: tuple[int, int], refusal: type[PhotoRejected], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's claimed size is refused before any pixel is decoded (a decode would raise here)."""
    data = with_declared_size(encode(Image.new("RGB", (64, 64), RED), fmt), *declared)

    def never_decoded(*_args: object) -> None:
        raise AssertionError("decoded a photo the header should have refused")

    monkeypatch.setattr(Image.OPEN[fmt][0], "load", never_decoded)  # the format's plugin, as Image.open made it
    with pytest.raises(refusal):
        open_photo(data, MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_phone_photo_decodes_to_the_jpeg_s_picture_at_full_size(fmt: str, phone_photos: dict[str, bytes]) -> None:
    """A 12 MP HEIC or AVIF has the JPEG's colours (no YCbCr matrix or range mixed up); neither format can be
    decoded at a reduced size, so the model's decode is full size and budgeted with the decoder's own buffers."""
    opened = open_photo(phone_photos[fmt], MAX_PIXELS, min_decode_size=224)
    assert opened.decoded_pixels == PHONE_SIZE[0] * PHONE_SIZE[1]
    assert opened.codec_bytes > 0
    assert opened.decode_bytes >= opened.decoded_pixels * MEASURED_DECODE_PEAK_BYTES_PER_PIXEL[fmt]
    decoded = pixels(opened.decode())
    jpeg = pixels(decode_photo(phone_photos["JPEG"], MAX_PIXELS))
    assert decoded.shape == jpeg.shape == (PHONE_SIZE[1], PHONE_SIZE[0], 3)
    assert np.abs(decoded - jpeg).mean() < 3


@pytest.mark.parametrize(("max_pixels", "accepted"), [(200, True), (201, True), (199, False)])
def test_pixel_limit_is_inclusive(max_pixels: int, accepted: bool) -> None:
    data = encode(Image.new("RGB", (20, 10), RED))
    if accepted:
        assert decode_photo(data, max_pixels).image.size == (20, 10)
    else:
        with pytest.raises(PhotoTooLarge):
            decode_photo(data, max_pixels)


@pytest.mark.parametrize("size", [(1, 1), (10_000, 10), (10, 10_000)])
def test_extreme_shapes_decode(size: tuple[int, int]) -> None:
    decoded = decode_photo(encode(Image.new("RGB", size, RED)), MAX_PIXELS)
    assert (decoded.width, decoded.height) == size
    assert decoded.image.size == size
    assert (pixels(decoded) == RED).all()
