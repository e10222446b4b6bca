"""The predictions API end to end on the committed weights: results, pictures, errors, concurrency, restarts."""

import asyncio
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.inference.preprocess import prepare
from camserve.models.inference.tta import average_mirror_views, mirror_views
from camserve.models.runtimes.onnxruntime import OnnxRuntimePredictor
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.networks import SlowPredictor
from tests.support.photos import CHELSEA, encode, exif_with_orientation, random_photo
from tests.support.results import assert_same_results
from tests.support.servers import post

TEXT = b"this is not a photo, just some text\n"


def test_post_chelsea_returns_result_and_location(client: TestClient, chelsea_bytes: bytes) -> None:
    response = post(client, chelsea_bytes, "chelsea.png")
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/predictions/{body['id']}"
    assert body["label"] in {"cat", "dog"}
    assert set(body["probabilities"]) == {"cat", "dog"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["confidence"] == max(body["probabilities"].values())
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    assert (body["width"], body["height"]) == (451, 300)
    assert body["model"]["name"] == "camserve-resnet34"
    assert isinstance(body["model"]["trained"], bool)
    assert body["links"]["overlay"] == f"/predictions/{body['id']}/overlay.png"
    assert body["timings"]["total_ms"] >= body["timings"]["inference_ms"] > 0
    assert client.get(body["links"]["self"]).json() == body


def test_tta_averages_the_photo_with_its_mirror_image(
    client: TestClient, chelsea_bytes: bytes, served_predictor: TorchPredictor
) -> None:
    """?tta=true answers the mean of the photo's and its mirror image's probabilities, in one forward of two."""
    plain = client.post("/predictions", files={"file": ("c.png", chelsea_bytes)}).json()
    assert plain["tta"] is False
    metrics_before = client.get("/metrics").text
    averaged = client.post("/predictions?tta=true", files={"file": ("c.png", chelsea_bytes)}).json()
    assert averaged["tta"] is True
    assert averaged["label"] == plain["label"] == "cat"
    pixels = prepare(chelsea_bytes, served_predictor.metadata, 50_000_000).pixels
    original, mirrored = served_predictor.predict(np.stack(mirror_views(pixels)))
    expected = average_mirror_views(original, mirrored).probabilities
    assert averaged["probabilities"]["cat"] == pytest.approx(float(expected[0]), abs=1e-5)
    maps = client.get(f"/predictions/{averaged['id']}/maps").json()
    np.testing.assert_allclose(maps["class_maps"], average_mirror_views(original, mirrored).class_maps, atol=1e-4)
    batches = [line for line in client.get("/metrics").text.splitlines() if "batch_size_sum" in line]
    assert batches != [line for line in metrics_before.splitlines() if "batch_size_sum" in line]


def test_ids_are_unguessable(client: TestClient, chelsea_bytes: bytes) -> None:
    ids = {post(client, chelsea_bytes).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) >= 22 for i in ids)  # 16 random bytes in URL-safe base64


@pytest.mark.parametrize("picture", ["overlay.png", "heatmap.png"])
def test_pictures_have_the_photo_size_and_cache_headers(client: TestClient, chelsea_bytes: bytes, picture: str) -> None:
    prediction_id = post(client, chelsea_bytes).json()["id"]
    response = client.get(f"/predictions/{prediction_id}/{picture}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "immutable" in response.headers["cache-control"]
    assert Image.open(io.BytesIO(response.content)).size == (451, 300)
    again = client.get(f"/predictions/{prediction_id}/{picture}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_overlay_parameters_change_the_picture(client: TestClient, chelsea_bytes: bytes) -> None:
    prediction_id = post(client, chelsea_bytes).json()["id"]
    base = f"/predictions/{prediction_id}/overlay.png"
    # Not ?class=cat: chelsea is a confident cat with no positive dog evidence, so the default (the maps
    # weighted by probability, then normalised) is the cat map itself.
    variants = [base, f"{base}?alpha=0.9", f"{base}?colormap=viridis", f"{base}?class=dog"]
    bodies = [client.get(url).content for url in variants]
    assert len(set(bodies)) == len(bodies)
    assert client.get(f"{base}?class=cat").content != client.get(f"{base}?class=dog").content
    photo = np.asarray(Image.open(io.BytesIO(client.get(f"{base}?alpha=0").content)))
    chelsea = np.asarray(Image.open(io.BytesIO(chelsea_bytes)).convert("RGB"))
    np.testing.assert_array_equal(photo, chelsea)


def test_an_empty_class_is_the_weighted_cam(client: TestClient, chelsea_bytes: bytes) -> None:
    """The README's URLs spell every parameter, ``class=`` left empty: that is the default map, not a 422, and the
    same picture (and ETag) as without it."""
    inline = {
        query: client.post(f"/predictions?{query}", files={"file": ("c.png", chelsea_bytes)})
        for query in ("store=false&alpha=0.5&colormap=jet&class=&box=false", "store=false")
    }
    assert [answer.status_code for answer in inline.values()] == [200, 200]
    assert len({answer.json()["overlay_png"] for answer in inline.values()}) == 1
    created = client.post("/predictions?class=", files={"file": ("c.png", chelsea_bytes)})
    assert created.status_code == 201, created.text
    for picture, query in (("overlay.png", "alpha=0.5&colormap=jet&class=&box=false"), ("heatmap.png", "class=")):
        base = f"{created.headers['location']}/{picture}"
        empty, absent = client.get(f"{base}?{query}"), client.get(base)
        assert empty.status_code == 200, empty.text
        assert (empty.content, empty.headers["etag"]) == (absent.content, absent.headers["etag"])
        assert empty.content != client.get(f"{base}?class=dog").content


def test_exif_rotated_upload_reports_upright_size(client: TestClient) -> None:
    data = encode(Image.new("RGB", (400, 200), (90, 60, 30)), "JPEG", exif=exif_with_orientation(6))
    body = post(client, data, "rotated.jpg").json()
    assert (body["width"], body["height"]) == (200, 400)
    overlay = client.get(body["links"]["overlay"]).content
    assert Image.open(io.BytesIO(overlay)).size == (200, 400)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (TEXT, 415, "not an image"),
        (b"", 415, "empty"),
        (b"%PDF-1.7\n" + b"0" * 100, 415, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 415, "not an image"),
        (CHELSEA.read_bytes()[:60_000], 422, "could not be decoded"),
    ],
)
def test_bad_uploads_get_plain_json_errors(client: TestClient, data: bytes, status: int, message: str) -> None:
    response = post(client, data)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_missing_field_is_422(client: TestClient, chelsea_bytes: bytes) -> None:
    response = client.post("/predictions", files={"photo": ("c.png", chelsea_bytes)})
    assert response.status_code == 422
    assert response.json() == {"detail": "missing required field 'file'"}


def test_upload_over_limit_is_413(tmp_path: Path, served_predictor: TorchPredictor, chelsea_bytes: bytes) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", max_upload_bytes=100_000)
    with TestClient(create_app(settings, served_predictor)) as client:
        response = post(client, chelsea_bytes)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_too_many_pixels_is_413(tmp_path: Path, served_predictor: TorchPredictor, chelsea_bytes: bytes) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", max_pixels=451 * 300 - 1)
    with TestClient(create_app(settings, served_predictor)) as client:
        response = post(client, chelsea_bytes)
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/predictions/unknown-id", 404),
        ("/predictions/unknown-id/overlay.png", 404),
        ("/predictions/unknown-id/heatmap.png", 404),
    ],
)
def test_unknown_id_is_404(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "no prediction" in response.json()["detail"]


@pytest.mark.parametrize("query", ["alpha=1.5", "alpha=-0.1", "alpha=abc", "colormap=rainbow", "class=horse"])
def test_bad_picture_parameters_are_422(client: TestClient, chelsea_bytes: bytes, query: str) -> None:
    prediction_id = post(client, chelsea_bytes).json()["id"]
    response = client.get(f"/predictions/{prediction_id}/overlay.png?{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def send_all(app: FastAPI, photos: list[bytes], concurrently: bool) -> list[tuple[httpx.Response, float, bytes]]:
    """POST every photo (all at once, or one by one) and fetch each one's 'cat' heatmap.

    Returns (response, seconds, heatmap PNG or b"") per photo. Runs on a thread of its own: the browser
    tests' Playwright keeps an event loop running on the main thread.
    """

    async def run() -> list[tuple[httpx.Response, float, bytes]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://camserve") as client:

                async def send(data: bytes) -> tuple[httpx.Response, float, bytes]:
                    started = time.perf_counter()
                    response = await client.post("/predictions", files={"file": ("p", data)})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 201:
                        return response, elapsed, b""
                    heatmap = await client.get(response.json()["links"]["heatmap"] + "?class=cat")
                    return response, elapsed, heatmap.content

                if concurrently:
                    return list(await asyncio.gather(*(send(data) for data in photos)))
                return [await send(data) for data in photos]

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, run()).result()


def test_concurrent_requests_get_their_own_results(settings: Settings, served_predictor: TorchPredictor) -> None:
    """Many different photos at once give what they give one at a time; no hook is left behind."""
    photos = [random_photo(seed) for seed in range(16)]
    app = create_app(settings, served_predictor)
    alone = send_all(app, photos, concurrently=False)
    together = send_all(app, photos, concurrently=True)
    assert_same_results(alone, together)
    assert served_predictor.hook_count == 0


def test_batching_on_and_off_give_the_same_results(tmp_path: Path, served_predictor: TorchPredictor) -> None:
    photos = [random_photo(seed) for seed in range(100, 112)]
    results = {}
    for batch_max_size in (1, 8):
        settings = Settings(store_path=tmp_path / f"{batch_max_size}.sqlite3", batch_max_size=batch_max_size)
        app = create_app(settings, served_predictor)
        results[batch_max_size] = send_all(app, photos, concurrently=True)
        batches = app.state.camserve.metrics.batch_size.collect()[0].samples
        count = next(s.value for s in batches if s.name.endswith("_count"))
        assert (count == len(photos)) == (batch_max_size == 1)  # batching on really did batch
    assert_same_results(results[1], results[8])


def test_the_onnx_runtime_backend_serves_what_the_torch_one_does(
    tmp_path: Path, served_predictor: TorchPredictor, served_onnx_predictor: OnnxRuntimePredictor
) -> None:
    photos = [random_photo(seed) for seed in range(200, 208)]
    results = {}
    for name, predictor in (("torch", served_predictor), ("onnxruntime", served_onnx_predictor)):
        app = create_app(Settings(store_path=tmp_path / f"{name}.sqlite3"), predictor)
        results[name] = send_all(app, photos, concurrently=True)
    assert_same_results(results["torch"], results["onnxruntime"])


def test_a_flood_gets_fast_503s_and_the_accepted_finish(tmp_path: Path, red_patch_predictor: TorchPredictor) -> None:
    slow = SlowPredictor(red_patch_predictor.model, red_patch_predictor.metadata, torch.device("cpu"), "fp32")
    settings = Settings(store_path=tmp_path / "s.sqlite3", queue_max=2, batch_max_size=1)
    photos = [encode(Image.new("RGB", (64, 48), (i, 0, 0))) for i in range(12)]
    results = send_all(create_app(settings, slow), photos, concurrently=True)
    accepted = [r for r, _, _ in results if r.status_code == 201]
    rejected = [(r, seconds) for r, seconds, _ in results if r.status_code == 503]
    assert len(accepted) + len(rejected) == len(photos)
    # At least the queue's two; a third only if the forward took the first before the others were decoded,
    # which the event loop's order does not promise (on busy cores the decodes finish together).
    assert len(accepted) >= 2 and len(rejected) >= 1
    for response, seconds in rejected:
        assert response.headers["retry-after"] == "1"
        assert "busy" in response.json()["detail"]
        assert seconds < 0.1  # refused at once, not after waiting for the queue
    assert all(r.json()["label"] == "red" for r in accepted)


def test_results_survive_a_restart(settings: Settings, served_predictor: TorchPredictor, chelsea_bytes: bytes) -> None:
    with TestClient(create_app(settings, served_predictor)) as client:
        body = post(client, chelsea_bytes).json()
        overlay = client.get(body["links"]["overlay"]).content
    with TestClient(create_app(settings, served_predictor)) as client:
        assert client.get(body["links"]["self"]).json() == body
        assert client.get(body["links"]["overlay"]).content == overlay


def test_store_eviction_keeps_the_bound(tmp_path: Path, served_predictor: TorchPredictor, chelsea_bytes: bytes) -> None:
    bound = 1024 * 1024
    settings = Settings(store_path=tmp_path / "s.sqlite3", store_max_bytes=bound, max_upload_bytes=bound // 2)
    with TestClient(create_app(settings, served_predictor)) as client:
        ids = [post(client, chelsea_bytes).json()["id"] for _ in range(8)]  # ~240 KB each
        assert client.app.state.camserve.store.total_bytes() <= bound
        assert client.get(f"/predictions/{ids[0]}").status_code == 404
        assert client.get(f"/predictions/{ids[-1]}").status_code == 200
