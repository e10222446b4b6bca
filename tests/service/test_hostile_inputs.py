"""Hostile and odd uploads through the real app: each gets a sane 201 or a JSON 4xx with a plain message, never a
5xx, and none of them takes the process down or leaves a spooled temporary file behind.

The corpus is generated here (no binary blobs in the repository) and sent to one app for the whole module, so
"still up after the corpus" means after all of it. Temporary files are checked on a real ``camserve serve``
whose TMPDIR is a fresh directory: python-multipart spools uploads over 1 MiB there.
"""

import io
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import MIB, Settings
from tests.support.photos import encode, exif_with_orientation, png_header_only
from tests.support.servers import CamserveProcess, camserve_process, post, wait_until_ready

SUPPORTED = "not an image in a supported format"
BOUNDARY = "camserve-hostile-boundary"


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
    ("heic", lambda: HEIC, "IMG_0001.HEIC", "image/heic", 415, SUPPORTED),
]  # fmt: skip


@pytest.fixture(scope="module")
def corpus_client(tmp_path_factory: pytest.TempPathFactory, served_predictor: TorchPredictor) -> Iterator[TestClient]:
    """One app for the whole corpus, so the final health check sees what every case did to it."""
    settings = Settings(store_path=tmp_path_factory.mktemp("hostile") / "store.sqlite3")
    with TestClient(create_app(settings, served_predictor), raise_server_exceptions=False) as client:
        wait_until_ready(client)
        yield client


def assert_plain_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert message in detail


def assert_sane_result(client: TestClient, response: httpx.Response, size: tuple[int, int]) -> None:
    """A real answer: the photo's size, probabilities that sum to one, and an overlay that renders at that size."""
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


@pytest.mark.parametrize(
    ("make", "name", "content_type", "status", "expected"), [case[1:] for case in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_uploaded_file(
    corpus_client: TestClient,
    make: Callable[[], bytes],
    name: str,
    content_type: str,
    status: int,
    expected: tuple[int, int] | str,
) -> None:
    """The answer depends on the bytes alone; the part's file name and content type are never trusted."""
    response = corpus_client.post("/predictions", files={"file": (name, make(), content_type)})
    if isinstance(expected, str):
        assert_plain_error(response, status, expected)
    else:
        assert_sane_result(corpus_client, response, expected)


PNG_8X8 = encode(Image.new("RGB", (8, 8), (1, 2, 3)))
MISSING = "missing required field 'file'"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({}, 422, MISSING),
        ({"files": {"photo": ("p.png", PNG_8X8)}}, 422, MISSING),
        ({"files": {"other": ("x", b"1")}, "data": {"file": "not a file"}}, 422, "file"),
        ({"json": {"file": "aGVsbG8="}}, 422, MISSING),
        ({"data": {"file": "aGVsbG8="}}, 422, "file"),
        ({"content": PNG_8X8, "headers": {"content-type": "image/jpeg"}}, 422, MISSING),
        ({"content": b"abc", "headers": {"content-type": "multipart/form-data"}}, 400, "boundary"),
        (
            {
                "content": b"--x\r\ngarbage without headers",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            400,
            "multipart",
        ),
    ],
    ids=[
        "empty-body",
        "wrong-field-name",
        "file-as-text-field",
        "json",
        "form-urlencoded",
        "raw-jpeg-content-type",
        "multipart-without-boundary",
        "malformed-multipart",
    ],
)
def test_body_that_is_not_one_uploaded_file(
    corpus_client: TestClient, request_kwargs: dict[str, object], status: int, message: str
) -> None:
    assert_plain_error(corpus_client.post("/predictions", **request_kwargs), status, message)


def test_two_files_in_the_field_use_the_last(corpus_client: TestClient) -> None:
    """FastAPI binds a single UploadFile to the field's last part; the answer must be that part's, not a 500."""
    text = ("notes.txt", b"hello", "text/plain")
    photo = ("p.png", encode(noise(12, 6)), "image/png")
    assert_sane_result(
        corpus_client, corpus_client.post("/predictions", files=[("file", text), ("file", photo)]), (12, 6)
    )
    assert_plain_error(corpus_client.post("/predictions", files=[("file", photo), ("file", text)]), 415, SUPPORTED)


def test_the_process_is_still_up_after_the_corpus(corpus_client: TestClient) -> None:
    assert corpus_client.get("/healthz").status_code == 200
    assert corpus_client.get("/readyz").status_code == 200
    assert post(corpus_client, PNG_8X8).status_code == 201


@pytest.mark.parametrize(
    ("width", "height", "status"), [(27, 37, 201), (40, 25, 201), (77, 13, 413)], ids=["999px", "1000px", "1001px"]
)
def test_pixel_limit_through_the_app(
    tmp_path: Path, served_predictor: TorchPredictor, width: int, height: int, status: int
) -> None:
    """A limit of 1000 pixels admits 999 and 1000 and refuses 1001, whatever the shape."""
    settings = Settings(store_path=tmp_path / "store.sqlite3", max_pixels=1000)
    with TestClient(create_app(settings, served_predictor)) as client:
        wait_until_ready(client)
        response = post(client, encode(noise(width, height)))
        if status == 201:
            assert_sane_result(client, response, (width, height))
        else:
            assert_plain_error(response, 413, "the limit is 1,000")


# --- a real server: slow uploads and temporary files -----------------------------------------------------------

UPLOAD_LIMIT = 3 * MIB


@pytest.fixture(scope="module")
def spooling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CamserveProcess, Path]]:
    """``camserve serve`` with its own empty TMPDIR and a 3 MiB upload limit; yields it and that directory."""
    root = tmp_path_factory.mktemp("spooling")
    spool = root / "tmp"
    spool.mkdir()
    env = {"TMPDIR": str(spool), "CAMSERVE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with camserve_process(root / "store.sqlite3", env=env) as server:
        yield server, spool


def multipart_body(data: bytes, name: str = "photo.png") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_a_very_slow_upload_still_completes(spooling_server: tuple[CamserveProcess, Path]) -> None:
    """About 3 s of 256-byte chunks, chunked transfer encoding: the server waits for the whole body and answers."""
    server, _ = spooling_server
    body = multipart_body(encode(noise(40, 30), "JPEG", quality=80))
    chunks = [body[i : i + 256] for i in range(0, len(body), 256)]
    delay = 3.0 / len(chunks)

    def trickle() -> Iterator[bytes]:
        for chunk in chunks:
            time.sleep(delay)
            yield chunk

    started = time.monotonic()
    response = httpx.post(f"{server.base}/predictions", content=trickle(), headers=MULTIPART, timeout=30)
    assert time.monotonic() - started >= 2.5
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (40, 30)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_large_uploads_leave_no_temporary_files(spooling_server: tuple[CamserveProcess, Path]) -> None:
    """Uploads over 1 MiB are spooled to TMPDIR; whether they succeed, fail, are cut off by the limit or are
    abandoned by the client, none of that may stay on disk or stay open in the server."""
    server, spool = spooling_server
    at_start = spooled_files(server.process.pid, spool)  # what imports leave there (onnxruntime writes .ses)
    photo = encode(noise(700, 700))
    assert MIB < len(photo) < UPLOAD_LIMIT
    url = f"{server.base}/predictions"
    accepted = httpx.post(url, files={"file": ("big.png", photo)}, timeout=60)
    assert accepted.status_code == 201, accepted.text
    assert_plain_error(httpx.post(url, files={"file": ("big.txt", b"x" * (2 * MIB))}, timeout=60), 415, SUPPORTED)
    cut = photo[: len(photo) - 1000]
    assert_plain_error(httpx.post(url, files={"file": ("cut.png", cut)}, timeout=60), 422, "could not be decoded")
    oversized = multipart_body(os.urandom(UPLOAD_LIMIT + MIB))
    chunked = httpx.post(
        url, content=iter([oversized[i : i + MIB] for i in range(0, len(oversized), MIB)]), headers=MULTIPART
    )
    assert_plain_error(chunked, 413, "larger than")

    # A client that declares 3 MiB, sends 2 MiB and hangs up; while it is connected, the check must see the spool
    # (else an empty result below would prove nothing).
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = f"POST /predictions HTTP/1.1\r\nHost: {host}\r\nContent-Length: {3 * MIB}\r\n"
        sock.sendall(f"{head}Content-Type: {MULTIPART['content-type']}\r\n\r\n".encode())
        sock.sendall(multipart_body(os.urandom(2 * MIB))[: 2 * MIB])
        assert wait_for(lambda: spooled_files(server.process.pid, spool) != at_start)

    assert wait_for(lambda: spooled_files(server.process.pid, spool) == at_start), spooled_files(
        server.process.pid, spool
    )
    assert httpx.get(f"{server.base}/healthz").status_code == 200


def spooled_files(pid: int, spool: Path) -> list[str]:
    """Files in the spool directory, and the server's open descriptors into it: SpooledTemporaryFile rolls over to
    an unnamed file (O_TMPFILE on Linux), visible only as an open descriptor, so both are looked at."""
    fd_dir = Path(f"/proc/{pid}/fd")
    open_ones = []
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith(str(spool)):
            open_ones.append(target)
    return sorted(os.listdir(spool)) + open_ones
