"""Optional API key on POST, and CORS only for configured origins."""

from pathlib import Path

from fastapi.testclient import TestClient

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings


def test_posts_need_the_key_when_one_is_set(
    tmp_path: Path, served_predictor: TorchPredictor, chelsea_bytes: bytes
) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", api_key="s3cret-key")
    files = {"file": ("c.png", chelsea_bytes)}
    with TestClient(create_app(settings, served_predictor)) as client:
        missing = client.post("/predictions", files=files)
        wrong = client.post("/predictions", files=files, headers={"X-API-Key": "guess"})
        right = client.post("/predictions", files=files, headers={"X-API-Key": "s3cret-key"})
        reading = client.get(right.json()["links"]["self"])
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"detail": "a valid X-API-Key header is required"}
    assert right.status_code == 201
    assert reading.status_code == 200  # results stay readable by whoever holds the unguessable id


def test_no_key_configured_means_open(client: TestClient, chelsea_bytes: bytes) -> None:
    assert client.post("/predictions", files={"file": ("c.png", chelsea_bytes)}).status_code == 201


def test_cors_allows_only_configured_origins(tmp_path: Path, served_predictor: TorchPredictor) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", cors_origins=["https://allowed.example"])
    preflight = {"Access-Control-Request-Method": "POST"}
    with TestClient(create_app(settings, served_predictor)) as client:
        allowed = client.options("/predictions", headers={"Origin": "https://allowed.example", **preflight})
        other = client.options("/predictions", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://allowed.example"
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Origin": "https://any.example"})
    assert "access-control-allow-origin" not in response.headers
