"""Hostile and odd uploads, and what camserve must answer to each: the corpus of uploaded files, the request
bodies that are not one uploaded file, and the checks on a plain error and on a sane result.

Shared by tests/service/test_hostile_inputs.py (one process) and tests/scripts/test_cluster.py (through the
balancer). The corpus is generated here, so the repository holds no binary blobs.
"""

import io
import os
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support.photos import encode, exif_with_orientation, png_header_only

SUPPORTED = "not an image in a supported format"
MISSING = "missing required field 'file'"
NOT_A_PHOTO_BODY = "or as the whole body with Content-Type image/*"


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """Incompressible pixels, so encoded sizes are predictable and truncations hit image data."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def plain(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A one-colour photo: sizes and modes are what these cases are about, not content."""
    return encode(Image.new(mode, (width, height), (0, 90, 40, 0)[: len(mode)]), fmt)


def sixteen_bit_png() -> bytes:
    ramp = np.linspace(0, 65535, 32 * 16, dtype=np.uint16).reshape(16, 32)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    return encode(image)


def palette_with_transparency_png() -> bytes:
    image = Image.new("P", (30, 20))
    image.putpalette([0, 0, 0, 200, 0, 0] + [0] * (256 * 3 - 6))
    image.putdata([i % 2 for i in range(30 * 20)])
    return encode(image, transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour).convert("P") for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF screen descriptor claiming ``width`` x ``height`` and a one-pixel frame: over Pillow's bomb guard."""
    screen = b"GIF89a" + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\x00\x00\x00"
    frame = b"\x2c" + b"\x00" * 4 + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\x00"
    return screen + frame + b"\x02\x02\x44\x01\x00\x3b"


def truncated(fmt: str) -> bytes:
    data = encode(noise(64, 64), fmt)
    return data[: len(data) // 2]


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
# A HEIC header with an empty meta box: a supported format whose container is damaged.
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x10meta" + b"\x00" * 200

# (id, photo bytes, file name, part content type, expected status, expected (width, height) or message part)
Case = tuple[str, Callable[[], bytes], str, str, int, tuple[int, int] | str]
CORPUS: list[Case] = [
    ("text-named-jpg", lambda: b"just some words\n" * 10, "photo.jpg", "image/jpeg", 415, SUPPORTED),
    ("png-claiming-text", lambda: encode(noise(8, 8)), "notes.txt", "text/plain", 201, (8, 8)),
    ("text-claiming-png", lambda: b"hello", "photo.png", "image/png", 415, SUPPORTED),
    ("truncated-jpeg", lambda: truncated("JPEG"), "half.jpg", "image/jpeg", 422, "could not be decoded"),
    ("truncated-png", lambda: truncated("PNG"), "half.png", "image/png", 422, "could not be decoded"),
    ("png-claims-100000x100000", lambda: png_header_only(100_000, 100_000), "bomb.png", "image/png", 413, "pixels"),
    ("gif-claims-65535x65535", lambda: gif_header_only(65_535, 65_535), "bomb.gif", "image/gif", 413, "pixels"),
    ("1x1", lambda: plain(1, 1), "dot.png", "image/png", 201, (1, 1)),
    ("10000x10", lambda: plain(10_000, 10), "strip.png", "image/png", 201, (10_000, 10)),
    ("10x10000", lambda: plain(10, 10_000, "JPEG"), "strip.jpg", "image/jpeg", 201, (10, 10_000)),
    ("cmyk-jpeg", lambda: plain(48, 32, "JPEG", "CMYK"), "cmyk.jpg", "image/jpeg", 201, (48, 32)),
    ("16-bit-png", sixteen_bit_png, "deep.png", "image/png", 201, (32, 16)),
    ("palette-transparency-png", palette_with_transparency_png, "p.png", "image/png", 201, (30, 20)),
    ("animated-gif", animated_gif, "anim.gif", "image/gif", 201, (40, 30)),
    *(
        (f"exif-orientation-{value}", lambda v=value: encode(noise(60, 40), "JPEG", exif=exif_with_orientation(v)),
         "o.jpg", "image/jpeg", 201, (60, 40))
        for value in (0, 9, 65_535)
    ),
    ("jpeg-then-garbage", lambda: plain(20, 10, "JPEG") + os.urandom(5000), "t.jpg", "image/jpeg", 201, (20, 10)),
    ("path-traversal-name", lambda: encode(noise(8, 8)), "../../../etc/passwd", "image/png", 201, (8, 8)),
    ("control-chars-in-name", lambda: encode(noise(8, 8)), "\u202egnp.exe\r\n", "image/png", 201, (8, 8)),
    ("svg", lambda: SVG, "vector.svg", "image/svg+xml", 415, SUPPORTED),
    ("tiff", lambda: encode(noise(8, 8), "TIFF"), "scan.tiff", "image/tiff", 415, SUPPORTED),
    ("heic", lambda: HEIC, "IMG_0001.HEIC", "image/heic", 422, "HEIF/AVIF container could not be read"),
]  # fmt: skip

PNG_8X8 = encode(Image.new("RGB", (8, 8), (1, 2, 3)))

# POST /predictions bodies that carry no photo, neither as one uploaded file in the field ``file`` nor as the whole
# body (image/*, application/octet-stream, or no Content-Type): (request keyword arguments, as httpx and TestClient
# take them; expected status; expected message part), each with its id.
NOT_ONE_FILE = [
    pytest.param({}, 415, "empty", id="empty-body"),
    pytest.param({"files": {"photo": ("p.png", PNG_8X8)}}, 422, MISSING, id="wrong-field-name"),
    pytest.param(
        {"files": {"other": ("x", b"1")}, "data": {"file": "not a file"}}, 422, "file", id="file-as-text-field"
    ),
    pytest.param({"json": {"file": "aGVsbG8="}}, 415, NOT_A_PHOTO_BODY, id="json"),
    pytest.param({"data": {"file": "aGVsbG8="}}, 415, NOT_A_PHOTO_BODY, id="form-urlencoded"),
    pytest.param(
        {"content": PNG_8X8, "headers": {"content-type": "text/plain"}}, 415, NOT_A_PHOTO_BODY, id="raw-as-text"
    ),
    pytest.param(
        {"content": b"abc", "headers": {"content-type": "multipart/form-data"}},
        400,
        "boundary",
        id="multipart-without-boundary",
    ),
    pytest.param(
        {"content": b"--x\r\ngarbage without headers", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        400,
        "multipart",
        id="malformed-multipart",
    ),
]


def assert_plain_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert message in detail


def assert_sane_result(client: httpx.Client | TestClient, response: httpx.Response, size: tuple[int, int]) -> None:
    """A real answer: the photo's size, probabilities that sum to one, and an overlay that renders at that size.

    ``client`` reads the overlay back: a TestClient on the app, or an httpx.Client on a server or the balancer.
    Both, as Starlette uses httpx2 for TestClient where it is installed, and then TestClient is no httpx.Client.
    """
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == size
    probabilities = list(body["probabilities"].values())
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    overlay = client.get(body["links"]["overlay"])
    assert overlay.status_code == 200
    assert Image.open(io.BytesIO(overlay.content)).size == size


def assert_corpus_answer(
    client: httpx.Client | TestClient, response: httpx.Response, status: int, expected: tuple[int, int] | str
) -> None:
    """What ``CORPUS`` expects of one entry's POST: a plain error containing ``expected`` (a message), or a sane
    result of that size (a width and height)."""
    if isinstance(expected, str):
        assert_plain_error(response, status, expected)
    else:
        assert_sane_result(client, response, expected)
