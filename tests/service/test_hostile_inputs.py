"""Hostile and odd uploads through the real app: each gets a sane 201 or a JSON 4xx with a plain message, never a
5xx, and none of them takes the process down or leaves a spooled temporary file behind.

The corpus (generated in tests/support/hostile_uploads.py: no binary blobs in the repository) is sent to one app
for the whole module, so "still up after the corpus" means after all of it. Temporary files are checked on a real
``camserve serve`` whose TMPDIR is a fresh directory: python-multipart spools uploads over 1 MiB there.
"""

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import MIB, Settings
from tests.support.hostile_uploads import (
    CORPUS,
    NOT_ONE_FILE,
    PNG_8X8,
    SUPPORTED,
    assert_corpus_answer,
    assert_plain_error,
    assert_sane_result,
    noise,
)
from tests.support.photos import encode
from tests.support.polling import wait_for
from tests.support.servers import CamserveProcess, camserve_process, post, wait_until_ready

BOUNDARY = "camserve-hostile-boundary"


@pytest.fixture(scope="module")
def corpus_client(tmp_path_factory: pytest.TempPathFactory, served_predictor: TorchPredictor) -> Iterator[TestClient]:
    """One app for the whole corpus, so the final health check sees what every case did to it."""
    settings = Settings(store_path=tmp_path_factory.mktemp("hostile") / "store.sqlite3")
    with TestClient(create_app(settings, served_predictor), raise_server_exceptions=False) as client:
        wait_until_ready(client)
        yield client


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
    assert_corpus_answer(corpus_client, response, status, expected)


@pytest.mark.parametrize(("request_kwargs", "status", "message"), NOT_ONE_FILE)
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
