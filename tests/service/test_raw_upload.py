"""POST /predictions with the photo's bytes as the whole body (image/*, application/octet-stream): the same
answers, limits and refusals as the multipart field ``file``, and the body read no further than the limit."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.requests import Request
from starlette.types import Message

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.errors import ApiError
from camserve.service.limits import MULTIPART_OVERHEAD
from camserve.service.settings import Settings
from camserve.service.uploads import RawBody, uploaded_photo
from tests.support.aio import run_in_own_loop
from tests.support.hostile_uploads import NOT_A_PHOTO_BODY
from tests.support.photos import CHELSEA, encode
from tests.support.servers import post, wait_until_ready

MAX_UPLOAD = 4096
KEY = "raw-upload-key"
CHUNK = 8192
RED = encode(Image.new("RGB", (64, 48), (255, 0, 0)))


def raw(client: TestClient, data: bytes, content_type: str = "image/jpeg", query: str = "") -> httpx.Response:
    return client.post(f"/predictions{query}", content=data, headers={"content-type": content_type})


@pytest.fixture(scope="module")
def chelsea_jpeg() -> bytes:
    return encode(Image.open(CHELSEA).convert("RGB"), "JPEG", quality=90)


@pytest.fixture(scope="module")
def keyed_client(tmp_path_factory: pytest.TempPathFactory, red_patch_predictor: TorchPredictor) -> Iterator[TestClient]:
    """The red-patch model behind an API key and a 4 KiB upload limit; requests carry the key unless told not to."""
    settings = Settings(
        store_path=tmp_path_factory.mktemp("raw") / "store.sqlite3", max_upload_bytes=MAX_UPLOAD, api_key=KEY
    )
    with TestClient(create_app(settings, red_patch_predictor), headers={"X-API-Key": KEY}) as test_client:
        wait_until_ready(test_client)
        yield test_client


def test_a_raw_jpeg_is_answered_as_its_multipart_upload(client: TestClient, chelsea_jpeg: bytes) -> None:
    form = post(client, chelsea_jpeg, "chelsea.jpg")
    body = raw(client, chelsea_jpeg)
    assert (form.status_code, body.status_code) == (201, 201), body.text
    result = body.json()
    assert body.headers["location"] == result["links"]["self"] == f"/predictions/{result['id']}"
    assert (result["label"], result["probabilities"]) == (form.json()["label"], form.json()["probabilities"])
    assert (result["width"], result["height"]) == (451, 300)
    assert client.get(result["links"]["self"]).json() == result
    created = 'camserve_http_requests_total{method="POST",route="/predictions",status="201"} 2.0'
    assert created in client.get("/metrics").text


def test_store_false_answers_the_overlay_inline(client: TestClient, chelsea_bytes: bytes) -> None:
    query = "?store=false&alpha=0.7&colormap=viridis"
    body = raw(client, chelsea_bytes, "application/octet-stream", query)
    form = client.post(f"/predictions{query}", files={"file": ("c.png", chelsea_bytes)})
    assert (body.status_code, form.status_code) == (200, 200), body.text
    assert "location" not in body.headers
    assert body.json()["overlay_png"] == form.json()["overlay_png"]


@pytest.mark.parametrize("content_type", ["image/png", "IMAGE/JPEG; q=1", "image/heic", "application/octet-stream"])
def test_any_image_type_or_octet_stream_is_taken(keyed_client: TestClient, content_type: str) -> None:
    """The declared type picks the body's reading, not the decoder: the bytes say what the photo is."""
    response = raw(keyed_client, RED, content_type)
    assert response.status_code == 201, response.text
    assert response.json()["label"] == "red"


def test_a_body_without_content_type_is_taken_as_octet_stream(keyed_client: TestClient) -> None:
    assert keyed_client.post("/predictions", content=RED).status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/x-www-form-urlencoded"])
def test_other_content_types_are_415(keyed_client: TestClient, content_type: str) -> None:
    response = raw(keyed_client, RED, content_type)
    assert response.status_code == 415
    assert NOT_A_PHOTO_BODY in response.json()["detail"]
    assert content_type in response.json()["detail"]


def test_an_empty_body_is_refused_as_an_empty_file_is(keyed_client: TestClient) -> None:
    empty_body, empty_file = raw(keyed_client, b""), post(keyed_client, b"")
    assert (empty_body.status_code, empty_file.status_code) == (415, 415)
    assert empty_body.json() == empty_file.json() == {"detail": "the uploaded file is empty"}


def test_a_body_over_the_upload_limit_is_413(keyed_client: TestClient) -> None:
    """Past the upload limit but within the middleware's multipart allowance: the pipeline's own refusal."""
    response = raw(keyed_client, b"x" * (MAX_UPLOAD + 1))
    assert response.status_code == 413
    assert response.json()["detail"] == f"the upload is larger than the limit of {MAX_UPLOAD:,} bytes"


def test_a_chunked_body_over_the_limit_is_413(keyed_client: TestClient) -> None:
    big = b"x" * (2 * (MAX_UPLOAD + MULTIPART_OVERHEAD))
    chunks = (big[start : start + CHUNK] for start in range(0, len(big), CHUNK))
    response = keyed_client.post("/predictions", content=chunks, headers={"content-type": "image/jpeg"})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_the_api_key_is_required(keyed_client: TestClient) -> None:
    response = keyed_client.post(
        "/predictions", content=RED, headers={"content-type": "image/png", "X-API-Key": "wrong"}
    )
    assert response.status_code == 401


def test_openapi_documents_both_bodies(keyed_client: TestClient) -> None:
    body = keyed_client.get("/openapi.json").json()["paths"]["/predictions"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"multipart/form-data", "image/*", "application/octet-stream"}
    assert body["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    assert body["content"]["image/*"]["schema"] == {"type": "string", "format": "binary"}


async def _read(body_chunks: int, sizes: list[int]) -> tuple[list[bytes], int]:
    """``RawBody`` over a body of ``body_chunks`` chunks, read in ``sizes``; returns the reads and the chunks
    taken from the socket."""
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": bytes([taken]) * CHUNK, "more_body": taken < body_chunks}

    upload = RawBody(Request({"type": "http", "method": "POST", "headers": []}, receive))
    return [await upload.read(size) for size in sizes], taken


def test_the_body_is_read_no_further_than_asked() -> None:
    """The pipeline reads limit + 1 bytes: a huge body costs the server that and one chunk more, no more."""
    (head,), taken = run_in_own_loop(_read(1000, [3 * CHUNK + 1]))
    assert len(head) == 3 * CHUNK + 1
    assert taken == 4


def test_reads_continue_where_the_last_one_stopped() -> None:
    (first, rest, after), taken = run_in_own_loop(_read(3, [10, -1, -1]))
    assert first == b"\x01" * 10
    assert rest == b"\x01" * (CHUNK - 10) + b"\x02" * CHUNK + b"\x03" * CHUNK
    assert (after, taken) == (b"", 3)


def test_a_short_body_is_read_whole() -> None:
    (whole,), taken = run_in_own_loop(_read(2, [10 * CHUNK]))
    assert (len(whole), taken) == (2 * CHUNK, 2)


async def _read_after_the_client_left() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "headers": [(b"content-type", b"image/jpeg")]}, receive)
    async with uploaded_photo(request) as upload:
        await upload.read(10)


def test_a_client_gone_mid_body_is_a_400_not_a_500() -> None:
    with pytest.raises(ApiError) as refused:
        run_in_own_loop(_read_after_the_client_left())
    assert refused.value.status_code == 400
