"""X-Content-Type-Options: nosniff on every answer, once: JSON and PNG, the page, its files, /metrics, /docs, and
every error, including those that other middleware sends itself (the 413 of BodySizeLimit, raw ASGI) and the 500
that Starlette's error middleware sends, outside everything ``add_middleware`` reaches."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from camserve.service.stores import StoreUnavailable
from tests.support.photos import encode
from tests.support.servers import post, wait_until_ready

MIB = 1024 * 1024


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: sent chunked, with no Content-Length, so only the mid-stream check can refuse it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def answers(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, httpx.Response]]:
    """A representative answer of each kind, by name: the status it must have, and the response."""
    photo = encode(Image.new("RGB", (64, 48), (200, 0, 0)))
    created = post(client, photo)
    location = created.headers["Location"]
    overlay = client.get(f"{location}/overlay.png")
    head = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    multipart, multipart_type = head + b"x" * 2 * MIB, {"content-type": "multipart/form-data; boundary=cut"}
    walked = {
        "JSON 201": (201, created),
        "JSON 200": (200, client.get(location)),
        "PNG": (200, overlay),
        "PNG 304": (304, client.get(f"{location}/overlay.png", headers={"If-None-Match": overlay.headers["etag"]})),
        "maps": (200, client.get(f"{location}/maps")),
        "models": (200, client.get("/models")),
        "healthz": (200, client.get("/healthz")),
        "readyz": (200, client.get("/readyz")),
        "metrics": (200, client.get("/metrics")),
        "docs": (200, client.get("/docs")),
        "docs file": (200, client.get("/docs/assets/swagger-ui.css")),
        "openapi": (200, client.get("/openapi.json")),
        "page": (200, client.get("/")),
        "page file": (200, client.get("/static/app.js")),
        "204": (204, client.delete(location)),
        "404 unknown id": (404, client.get(location)),
        "404 unknown path": (404, client.get("/nowhere")),
        "404 unknown file": (404, client.get("/static/nowhere.js")),
        "405": (405, client.put("/predictions")),
        "413 declared": (413, client.post("/predictions", content=b"x" * 2 * MIB)),
        "413 streamed": (413, client.post("/predictions", content=chunks(multipart), headers=multipart_type)),
        "415": (415, post(client, b"not a photo at all")),
        "422 missing field": (422, client.post("/predictions", files={"other": ("a.png", photo)})),
        "422 bad query": (422, client.get(f"{location}/overlay.png?alpha=7")),
    }
    store = client.app.state.camserve.store  # type: ignore[attr-defined]

    def unreachable(_prediction_id: str) -> None:
        raise StoreUnavailable("the database went away")

    def broken(_prediction_id: str) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(store, "get_result", unreachable)
    walked["503 store"] = (503, client.get(location))
    monkeypatch.setattr(store, "get_result", broken)
    walked["500"] = (500, client.get(location))
    return walked


def test_every_answer_says_nosniff_once(
    tmp_path: Path, red_patch_predictor: TorchPredictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", max_upload_bytes=MIB)
    app = create_app(settings, red_patch_predictor)
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_until_ready(client)
        walked = answers(client, monkeypatch)
    for name, (status, response) in walked.items():
        assert response.status_code == status, (name, response.text)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], name
