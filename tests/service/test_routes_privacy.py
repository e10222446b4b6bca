"""People's photos, their call: DELETE, retention and keep-nothing requests, through the real app.

The photos carry a marker in a PNG text chunk, so a test can search the database files for any byte of them
that survived."""

import base64
import io
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from camserve.models.inference.decode import CorruptPhoto
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service import pipeline
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.servers import post, wait_until_ready


def marked_photo(marker: str, size: tuple[int, int] = (96, 64)) -> bytes:
    pixels = np.random.default_rng(len(marker)).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("marker", marker)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def database_holds(store_path: Path, marker: str) -> bool:
    """Whether the marker is anywhere in the SQLite file or its write-ahead log."""
    files = [store_path, store_path.with_name(store_path.name + "-wal")]
    return any(marker.encode() in path.read_bytes() for path in files if path.exists())


@pytest.fixture
def app_client(
    tmp_path: Path, served_predictor: TorchPredictor, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    """The app over a temporary store; ``@pytest.mark.parametrize("app_client", [{...}], indirect=True)`` sets
    settings."""
    overrides = getattr(request, "param", {})
    settings = Settings(store_path=tmp_path / "store.sqlite3", **overrides)
    with TestClient(create_app(settings, served_predictor)) as client:
        wait_until_ready(client)
        yield client


def store_path(client: TestClient) -> Path:
    path: Path = client.app.state.camserve.settings.store_path  # type: ignore[attr-defined]
    return path


def row_count(client: TestClient) -> int:
    count: int = client.app.state.camserve.store.count()  # type: ignore[attr-defined]
    return count


def test_delete_removes_every_trace(app_client: TestClient) -> None:
    marker = "MARKER-delete-7f3a"
    result = post(app_client, marked_photo(marker)).json()
    links = result["links"]
    assert app_client.get(links["overlay"]).status_code == 200  # now in the render cache too
    assert database_holds(store_path(app_client), marker)

    assert app_client.delete(links["self"]).status_code == 204
    for url in (links["self"], links["overlay"], links["heatmap"], links["overlay"] + "?alpha=0.2"):
        assert app_client.get(url).status_code == 404
    assert app_client.delete(links["self"]).status_code == 404
    assert not database_holds(store_path(app_client), marker)
    assert row_count(app_client) == 0
    assert app_client.app.state.camserve.store.total_bytes() == 0  # type: ignore[attr-defined]
    assert not app_client.app.state.camserve.rendered  # type: ignore[attr-defined]


def test_a_picture_drawn_while_its_result_is_deleted_is_not_kept(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DELETE that lands while a GET draws the overlay: the GET answers with what it read before, but the
    picture of the deleted result must not stay in the server's memory."""
    links = post(app_client, marked_photo("MARKER-race-d41e")).json()["links"]
    drawn = pipeline.render_opened

    def delete_meanwhile(*args: Any) -> bytes:
        assert app_client.delete(links["self"]).status_code == 204  # on the app's loop, while this thread draws
        return drawn(*args)

    monkeypatch.setattr(pipeline, "render_opened", delete_meanwhile)
    assert app_client.get(links["overlay"]).status_code == 200
    assert not app_client.app.state.camserve.rendered  # type: ignore[attr-defined]


def test_delete_leaves_other_results_alone(app_client: TestClient) -> None:
    kept = post(app_client, marked_photo("MARKER-kept")).json()
    gone = post(app_client, marked_photo("MARKER-gone-00")).json()
    assert app_client.delete(gone["links"]["self"]).status_code == 204
    assert app_client.get(kept["links"]["self"]).json() == kept
    assert app_client.get(kept["links"]["overlay"]).status_code == 200
    assert database_holds(store_path(app_client), "MARKER-kept")


def test_unknown_id_is_404(app_client: TestClient) -> None:
    assert app_client.delete("/predictions/no-such-id").status_code == 404


@pytest.mark.parametrize("app_client", [{"api_key": "s3cret"}], indirect=True)
def test_delete_needs_the_api_key_when_one_is_set(app_client: TestClient) -> None:
    key = {"X-API-Key": "s3cret"}
    files = {"file": ("p.png", marked_photo("MARKER-key"))}
    url = app_client.post("/predictions", files=files, headers=key).json()["links"]["self"]
    assert app_client.delete(url).status_code == 401
    assert app_client.delete(url, headers={"X-API-Key": "wrong"}).status_code == 401
    assert app_client.delete(url, headers=key).status_code == 204


@pytest.mark.parametrize("app_client", [{"retention_s": 1.0}], indirect=True)
def test_results_expire_at_once_and_the_sweep_deletes_them(app_client: TestClient) -> None:
    marker = "MARKER-expiry-51c2"
    result = post(app_client, marked_photo(marker)).json()
    created = datetime.fromisoformat(result["created_at"])
    assert datetime.fromisoformat(result["expires_at"]) - created == timedelta(seconds=1)
    links = result["links"]
    assert app_client.get(links["overlay"]).status_code == 200
    time.sleep(1.1)
    # Gone for readers the moment it expires, whether or not the sweep has run.
    for url in (links["self"], links["overlay"], links["heatmap"]):
        assert app_client.get(url).status_code == 404
    deadline = time.monotonic() + 5  # the sweep runs every second at this retention
    while row_count(app_client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert row_count(app_client) == 0
    assert not database_holds(store_path(app_client), marker)
    assert app_client.app.state.camserve.store.total_bytes() == 0  # type: ignore[attr-defined]


def test_without_retention_results_say_they_do_not_expire(app_client: TestClient) -> None:
    assert post(app_client, marked_photo("MARKER-forever")).json()["expires_at"] is None


def test_store_false_answers_everything_and_keeps_nothing(app_client: TestClient) -> None:
    marker = "MARKER-unstored-9d"
    response = app_client.post(
        "/predictions",
        params={"store": "false", "alpha": "0.25", "colormap": "magma", "class": "dog"},
        files={"file": ("p.png", marked_photo(marker, (120, 80)))},
    )
    assert response.status_code == 200
    assert "location" not in response.headers
    body = response.json()
    assert {"id", "links", "expires_at"}.isdisjoint(body)
    assert body["label"] in {"cat", "dog"} and set(body["probabilities"]) == {"cat", "dog"}
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert (overlay.format, overlay.size) == ("PNG", (120, 80))
    assert row_count(app_client) == 0
    assert not database_holds(store_path(app_client), marker)


def test_store_false_overlay_follows_the_request(app_client: TestClient) -> None:
    """The inline overlay is the one GET would draw with the same alpha, colormap and class."""
    photo = marked_photo("MARKER-same")
    stored = post(app_client, photo).json()
    query = {"alpha": "0.25", "colormap": "magma", "class": "dog"}
    drawn = app_client.get(stored["links"]["overlay"], params=query).content
    inline = app_client.post("/predictions", params={"store": "false", **query}, files={"file": ("p.png", photo)})
    assert base64.b64decode(inline.json()["overlay_png"]) == drawn


@pytest.mark.parametrize("app_client", [{"store_photos": False}], indirect=True)
def test_a_server_that_keeps_nothing(app_client: TestClient) -> None:
    photo = marked_photo("MARKER-nothing")
    answer = post(app_client, photo)
    assert answer.status_code == 200
    assert "overlay_png" in answer.json()
    refused = app_client.post("/predictions", params={"store": "true"}, files={"file": ("p.png", photo)})
    assert refused.status_code == 422
    assert "keeps no photos" in refused.json()["detail"]
    assert row_count(app_client) == 0
    storage = app_client.get("/readyz").json()["storage"]
    assert (storage["keeps_photos"], storage["retention_s"]) == (False, None)


def test_store_false_refuses_a_photo_its_full_size_decode_rejects(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's overlay decodes the photo at full size, which can refuse what the model's reduced-size
    decode read: that is the client's photo, a 422 like any other, never a 500."""

    def refuse(*_args: object) -> bytes:
        raise CorruptPhoto("the image data could not be decoded: truncated")

    monkeypatch.setattr(pipeline, "render_opened", refuse)
    response = app_client.post("/predictions", params={"store": "false"}, files={"file": ("p.png", marked_photo("M"))})
    assert response.status_code == 422
    assert "could not be decoded" in response.json()["detail"]
    assert app_client.get("/healthz").status_code == 200
