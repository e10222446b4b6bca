"""CAM-guided zoom through the API, on the red-patch model (its heat is on the red patch, so a small patch on
a white photo zooms and a plain photo does not): the option and the setting, the JSON, the stored result, the
outlined overlay, the maps, serve-time TTA on both views, and the crop going through the batching queue."""

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.inference.preprocess import prepare
from camserve.models.inference.tta import average_mirror_views, mirror_views
from camserve.models.inference.zoom import ZOOM_RULE, CropBox, combine, crop_input
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.render import OUTLINE_RGB, select_cam
from camserve.service.settings import Settings
from tests.service.test_routes_health import stage_count
from tests.support.photos import encode, photo_with_patch
from tests.support.servers import wait_until_ready

MAX_PIXELS = 50_000_000
WIDTH, HEIGHT = 960, 640
PATCH = (600, 80, 690, 170)
NOT_ZOOMED = {"requested": False, "used": False, "box": None, "photo_probabilities": None, "crop_probabilities": None}


@pytest.fixture(scope="module")
def patch_photo() -> bytes:
    return encode(photo_with_patch(WIDTH, HEIGHT, PATCH), "JPEG", quality=95)


def client_with(tmp_path: Path, predictor: TorchPredictor, **settings: object) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store_path=tmp_path / "s.sqlite3", **settings), predictor)) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture
def red_client(tmp_path: Path, red_patch_predictor: TorchPredictor) -> Iterator[TestClient]:
    yield from client_with(tmp_path, red_patch_predictor)


def post(client: TestClient, data: bytes, query: str = "") -> dict[str, object]:
    response = client.post(f"/predictions{query}", files={"file": ("p.jpg", data)})
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


def expected_answer(predictor: TorchPredictor, data: bytes, box: dict[str, int], mirror: bool) -> dict[str, object]:
    """The photo's and the crop's answers, and their combination, computed without the service."""
    metadata = predictor.metadata

    def look(pixels: np.ndarray) -> np.ndarray:
        if mirror:
            return average_mirror_views(*predictor.predict(np.stack(mirror_views(pixels)))).probabilities
        (prediction,) = predictor.predict(pixels[None])
        return prediction.probabilities

    prepared = prepare(data, metadata, MAX_PIXELS)
    crop = crop_input(data, CropBox(**box), prepared.width, prepared.height, metadata, MAX_PIXELS)
    photo_probabilities, crop_probabilities = look(prepared.pixels), look(crop)
    (photo,) = predictor.predict(prepared.pixels[None])
    (cropped,) = predictor.predict(crop[None])
    photo = type(photo)(photo_probabilities, photo.class_maps)
    cropped = type(cropped)(crop_probabilities, cropped.class_maps)
    return {"photo": photo_probabilities, "crop": crop_probabilities, "answer": combine(photo, cropped, ZOOM_RULE)}


@pytest.mark.parametrize("mirror", [False, True])
def test_zoom_looks_again_at_the_patch_and_combines_the_answers(
    red_client: TestClient, red_patch_predictor: TorchPredictor, patch_photo: bytes, mirror: bool
) -> None:
    """?zoom=true: the box holds the patch, in photo pixels; the answer is the rule's combination of the photo's
    and the crop's; with ?tta=true both views are averaged with their mirror images."""
    body = post(red_client, patch_photo, f"?zoom=true&tta={str(mirror).lower()}")
    zoom = body["zoom"]
    assert isinstance(zoom, dict)
    assert zoom["requested"] is zoom["used"] is True
    box = zoom["box"]
    left, top, right, bottom = PATCH
    assert box["left"] <= left and box["top"] <= top and box["right"] >= right and box["bottom"] >= bottom
    assert box["left"] >= 0 and box["top"] >= 0 and box["right"] <= WIDTH and box["bottom"] <= HEIGHT
    assert (box["right"] - box["left"]) * (box["bottom"] - box["top"]) < WIDTH * HEIGHT / 4
    expected = expected_answer(red_patch_predictor, patch_photo, box, mirror)
    names = ("red", "other")
    assert [zoom["photo_probabilities"][n] for n in names] == pytest.approx(list(expected["photo"]), abs=1e-5)
    assert [zoom["crop_probabilities"][n] for n in names] == pytest.approx(list(expected["crop"]), abs=1e-5)
    assert [body["probabilities"][n] for n in names] == pytest.approx(list(expected["answer"]), abs=1e-5)
    assert zoom["crop_probabilities"]["red"] > zoom["photo_probabilities"]["red"]  # the patch fills the crop
    assert body["tta"] is mirror
    assert body["timings"]["zoom_ms"] > 0


def test_the_stored_result_and_its_maps_keep_the_zoom(
    red_client: TestClient, red_patch_predictor: TorchPredictor, patch_photo: bytes
) -> None:
    """GET returns the zoom as posted; /maps gives the whole photo's maps, weighted by the photo's own answer."""
    body = post(red_client, patch_photo, "?zoom=true")
    assert red_client.get(f"/predictions/{body['id']}").json() == body
    maps = red_client.get(f"/predictions/{body['id']}/maps").json()
    (photo,) = red_patch_predictor.predict(prepare(patch_photo, red_patch_predictor.metadata, MAX_PIXELS).pixels[None])
    np.testing.assert_allclose(maps["class_maps"], photo.class_maps, atol=1e-5)
    np.testing.assert_allclose(maps["cam"], select_cam(photo.class_maps, photo.probabilities, None), atol=1e-5)


def test_zoom_is_off_by_default_and_per_request(red_client: TestClient, patch_photo: bytes) -> None:
    plain = post(red_client, patch_photo)
    assert plain["zoom"] == NOT_ZOOMED
    assert plain["timings"]["zoom_ms"] == 0.0
    assert post(red_client, patch_photo, "?zoom=false")["zoom"] == NOT_ZOOMED


def test_a_photo_without_a_concentrated_map_is_not_zoomed(red_client: TestClient) -> None:
    """A plain grey photo: flat map, nothing to zoom into, one forward only."""
    metrics = red_client.get("/metrics").text
    body = post(red_client, encode(Image.new("RGB", (400, 300), (120, 120, 120)), "JPEG"), "?zoom=true")
    assert body["zoom"] == {**NOT_ZOOMED, "requested": True}
    assert stage_count(red_client.get("/metrics").text, "zoom") == stage_count(metrics, "zoom")


def test_the_setting_turns_zoom_on(tmp_path: Path, red_patch_predictor: TorchPredictor, patch_photo: bytes) -> None:
    for client in client_with(tmp_path, red_patch_predictor, zoom=True):
        assert post(client, patch_photo)["zoom"]["used"] is True
        assert post(client, patch_photo, "?zoom=false")["zoom"] == NOT_ZOOMED


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_junk_zoom_and_box_values_are_422(red_client: TestClient, patch_photo: bytes, value: str) -> None:
    assert red_client.post(f"/predictions?zoom={value}", files={"file": ("p.jpg", patch_photo)}).status_code == 422
    body = post(red_client, patch_photo, "?zoom=true")
    assert red_client.get(f"/predictions/{body['id']}/overlay.png?box={value}").status_code == 422


def test_the_crop_goes_through_the_batching_queue(red_client: TestClient, patch_photo: bytes) -> None:
    """Two forwards through the engine (the photo, then its crop), and one zoom stage timed."""
    before = red_client.get("/metrics").text
    post(red_client, patch_photo, "?zoom=true")
    after = red_client.get("/metrics").text

    def batches(text: str) -> float:
        (line,) = [line for line in text.splitlines() if line.startswith("camserve_inference_batch_size_count")]
        return float(line.split()[-1])

    assert batches(after) - batches(before) == 2
    assert stage_count(after, "zoom") - stage_count(before, "zoom") == 1


def outline_pixels(png: bytes, box: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The pixels along the box's left edge, and a patch of pixels well inside it."""
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    left, top, bottom = box["left"], box["top"], box["bottom"]
    return picture[top + 5 : bottom - 5, left], picture[top + 10 : top + 20, left + 10 : left + 20]


def test_the_overlay_outlines_the_box_when_asked(red_client: TestClient, patch_photo: bytes) -> None:
    body = post(red_client, patch_photo, "?zoom=true")
    box = body["zoom"]["box"]
    overlay = f"/predictions/{body['id']}/overlay.png"
    plain, outlined = red_client.get(overlay).content, red_client.get(f"{overlay}?box=true").content
    edge_plain, inside_plain = outline_pixels(plain, box)
    edge_outlined, inside_outlined = outline_pixels(outlined, box)
    assert (edge_outlined == OUTLINE_RGB).all()
    assert not (edge_plain == OUTLINE_RGB).all(axis=1).any()
    np.testing.assert_array_equal(inside_plain, inside_outlined)
    unzoomed = post(red_client, patch_photo)["links"]["overlay"]  # no zoom, nothing to outline
    assert red_client.get(f"{unzoomed}?box=true").content == red_client.get(unzoomed).content


def test_an_unstored_answer_outlines_the_box_inline(red_client: TestClient, patch_photo: bytes) -> None:
    body = post(red_client, patch_photo, "?store=false&zoom=true&box=true")
    edge, _ = outline_pixels(base64.b64decode(body["overlay_png"]), body["zoom"]["box"])
    assert (edge == OUTLINE_RGB).all()
    assert "id" not in body


def test_the_zoom_is_in_the_openapi_schema(red_client: TestClient) -> None:
    schema = red_client.get("/openapi.json").json()
    assert {"requested", "used", "box"} <= set(schema["components"]["schemas"]["Zoom"]["properties"])
    post_parameters = {p["name"] for p in schema["paths"]["/predictions"]["post"]["parameters"]}
    assert {"zoom", "box"} <= post_parameters
    overlay_parameters = schema["paths"]["/predictions/{prediction_id}/overlay.png"]["get"]["parameters"]
    assert "box" in {p["name"] for p in overlay_parameters}
