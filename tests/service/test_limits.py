"""BodySizeLimit: oversized bodies get a JSON 413, whether declared up front or streamed in chunks.

Without it a client can make the server spool unbounded data; and a chunked body that trips the limit must
still read as 413 to the client, not as the 400 or 500 that the layers inside would make of the error.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.limits import MULTIPART_OVERHEAD, BodySizeLimit
from camserve.service.settings import Settings
from tests.support.photos import encode

MAX_UPLOAD = 4096
LIMIT = MAX_UPLOAD + MULTIPART_OVERHEAD  # what the middleware allows in all
BOUNDARY = "camserve-test-boundary"
CHUNK = 8192


def chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def multipart(payload: bytes) -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="photo.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def assert_json_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert f"{LIMIT}" in response.json()["detail"]


# --- a bare app: exact limits and what reaches the endpoint --------------------------------------------------


@pytest.fixture
def echo() -> Iterator[tuple[TestClient, list[dict[str, object]]]]:
    """An app whose endpoint reads the whole body and records what it saw, behind the middleware alone."""
    seen: list[dict[str, object]] = []
    app = FastAPI()

    @app.post("/echo")
    async def echo_body(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append({"length": len(body), "content-length": request.headers.get("content-length")})
        return {"length": len(body)}

    app.add_middleware(BodySizeLimit, max_body_bytes=MAX_UPLOAD)
    with TestClient(app) as test_client:
        yield test_client, seen


def test_declared_length_over_the_limit_is_refused_before_the_app_runs(
    echo: tuple[TestClient, list[dict[str, object]]],
) -> None:
    client, seen = echo
    assert_json_413(client.post("/echo", content=b"x" * (LIMIT + 1)))
    assert seen == []


@pytest.mark.parametrize("chunked", [False, True])
def test_body_exactly_at_the_limit_passes(echo: tuple[TestClient, list[dict[str, object]]], chunked: bool) -> None:
    client, seen = echo
    body = b"x" * LIMIT
    response = client.post("/echo", content=chunks(body) if chunked else body)
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}
    assert seen == [{"length": LIMIT, "content-length": None if chunked else str(LIMIT)}]


def test_chunked_body_one_byte_over_the_limit_is_refused(echo: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, seen = echo
    assert_json_413(client.post("/echo", content=chunks(b"x" * (LIMIT + 1))))
    assert seen == []


def test_small_body_passes_through_untouched(echo: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, _seen = echo
    response = client.post("/echo", content=b"hello")
    assert response.status_code == 200
    assert response.json() == {"length": 5}


# --- the real app: multipart parsing and the metrics middleware sit between the limit and the endpoint -------


@pytest.fixture
def small_upload_client(tmp_path: Path, red_patch_predictor: TorchPredictor) -> Iterator[TestClient]:
    settings = Settings(store_path=tmp_path / "store.sqlite3", max_upload_bytes=MAX_UPLOAD)
    with TestClient(create_app(settings, red_patch_predictor)) as test_client:
        yield test_client


def test_app_refuses_declared_oversized_upload(small_upload_client: TestClient) -> None:
    response = small_upload_client.post("/predictions", files={"file": ("photo.png", b"x" * (LIMIT + 1), "image/png")})
    assert_json_413(response)


def test_app_refuses_chunked_oversized_upload_with_413(small_upload_client: TestClient) -> None:
    """The limit trips inside FastAPI's form parsing, which turned the error into 400 'error parsing the body'."""
    body = multipart(b"x" * (2 * LIMIT))
    response = small_upload_client.post(
        "/predictions", content=chunks(body), headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    assert_json_413(response)


def test_app_accepts_a_chunked_upload_under_the_limit(small_upload_client: TestClient) -> None:
    photo = encode(Image.new("RGB", (64, 64), (255, 0, 0)))
    assert len(photo) < MAX_UPLOAD
    response = small_upload_client.post(
        "/predictions",
        content=chunks(multipart(photo), size=256),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["width"] == 64


def test_app_accepts_an_upload_under_the_limit(small_upload_client: TestClient) -> None:
    photo = encode(Image.new("RGB", (64, 48), (255, 0, 0)))
    response = small_upload_client.post("/predictions", files={"file": ("photo.png", photo, "image/png")})
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (64, 48)


def test_app_still_serves_after_a_refused_upload(small_upload_client: TestClient) -> None:
    body = multipart(b"x" * (2 * LIMIT))
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    assert small_upload_client.post("/predictions", content=chunks(body), headers=headers).status_code == 413
    photo = encode(Image.new("RGB", (32, 32), (255, 0, 0)))
    response = small_upload_client.post("/predictions", files={"file": ("photo.png", photo, "image/png")})
    assert response.status_code == 201, response.text
