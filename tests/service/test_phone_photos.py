"""HEIC and AVIF uploads through the API, as phones and web pages make them: the same answer as the JPEG of the
same 12 MP photo, upright, their overlay drawn, and refused (too many pixels, truncated) as a JPEG would be."""

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.photos import CHELSEA, PHONE_SIZE, STORED_FOR_ORIENTATION, encode_quickly, exif_with_orientation
from tests.support.servers import post, wait_until_ready

PHONE_FORMATS = ("HEIF", "AVIF")


@pytest.fixture(scope="module")
def client_for_module(
    tmp_path_factory: pytest.TempPathFactory, served_predictor: TorchPredictor
) -> Iterator[TestClient]:
    """One app for the module's uploads (each app start warms the model up)."""
    settings = Settings(store_path=tmp_path_factory.mktemp("phone") / "store.sqlite3")
    with TestClient(create_app(settings, served_predictor)) as client:
        wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
def jpeg_answer(client_for_module: TestClient, phone_photos: dict[str, bytes]) -> dict[str, object]:
    response = post(client_for_module, phone_photos["JPEG"], "phone.jpg")
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_phone_photo_answers_as_its_jpeg_does(
    fmt: str, client_for_module: TestClient, phone_photos: dict[str, bytes], jpeg_answer: dict[str, object]
) -> None:
    response = post(client_for_module, phone_photos[fmt], f"phone.{fmt.lower()}")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == PHONE_SIZE
    assert body["label"] == jpeg_answer["label"] == "cat"
    assert body["probabilities"] == pytest.approx(jpeg_answer["probabilities"], abs=0.002)


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_turned_phone_photo_is_answered_upright_with_its_overlay(fmt: str, client_for_module: TestClient) -> None:
    """A portrait photo stored landscape with the turn in its container (irot, as phones store it): the size
    reported and the overlay drawn are upright, and the answer is the upright photo's."""
    with Image.open(CHELSEA) as chelsea:
        upright = chelsea.convert("RGB").resize((256, 384))  # portrait, sides multiples of 64 (no cropped blocks)
    stored = upright.transpose(STORED_FOR_ORIENTATION[6])
    turned = encode_quickly(stored, fmt, exif=exif_with_orientation(6).tobytes())
    answers = [post(client_for_module, data, "photo") for data in (encode_quickly(upright, fmt), turned)]
    assert [answer.status_code for answer in answers] == [201, 201]
    plain, rotated = (answer.json() for answer in answers)
    assert (rotated["width"], rotated["height"]) == (256, 384)
    assert rotated["probabilities"] == pytest.approx(plain["probabilities"], abs=0.002)
    overlay = client_for_module.get(rotated["links"]["overlay"])
    assert overlay.status_code == 200
    assert overlay.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(overlay.content)).size == (256, 384)


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_the_open_inference_route_reads_them_too(
    fmt: str, client_for_module: TestClient, phone_photos: dict[str, bytes], jpeg_answer: dict[str, object]
) -> None:
    request = {
        "inputs": [
            {"name": "photo", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(phone_photos[fmt]).decode()]}
        ],
        "outputs": [{"name": "label"}],
        "parameters": {"store": False},
    }
    response = client_for_module.post("/v2/models/camserve-resnet34/infer", json=request)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [jpeg_answer["label"]]


def test_a_heic_with_too_many_pixels_is_413_without_decoding(
    tmp_path: Path,
    served_predictor: TorchPredictor,
    phone_photos: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never_decoded(*_args: object) -> None:
        raise AssertionError("decoded a photo its header should have refused")

    monkeypatch.setattr(Image.OPEN["HEIF"][0], "load", never_decoded)
    settings = Settings(store_path=tmp_path / "store.sqlite3", max_pixels=PHONE_SIZE[0] * PHONE_SIZE[1] - 1)
    with TestClient(create_app(settings, served_predictor)) as client:
        response = post(client, phone_photos["HEIF"], "phone.heic")
    assert response.status_code == 413, response.text
    assert "12,000,000 pixels" in response.json()["detail"]


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_truncated_phone_photo_is_422(
    fmt: str, client_for_module: TestClient, phone_photos: dict[str, bytes]
) -> None:
    data = phone_photos[fmt]
    response = post(client_for_module, data[: len(data) // 2], "cut")
    assert response.status_code == 422, response.text
