"""Several models in one service: GET /models, POST /predictions?model=NAME, and results that keep answering
in their own model's classes. The second model is the committed CIFAR-10 checkpoint (the lesson's Resnet2)."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS, metadata_path
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.served_models import LoadedModel
from camserve.service.settings import Settings
from tests.support.aio import run_in_own_loop
from tests.support.cifar import CIFAR_ARCHIVE, shared_cifar_test_images
from tests.support.photos import random_photo
from tests.support.servers import wait_until_ready

CIFAR = "camserve-lesson7-resnet2"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def two_models(
    settings: Settings, served_predictor: TorchPredictor, cifar_predictor: TorchPredictor
) -> Iterator[TestClient]:
    app = create_app(settings, served_predictor, extra_models=[LoadedModel.given(cifar_predictor)])
    with TestClient(app) as client:
        wait_until_ready(client)
        yield client


def ask(client: TestClient, photo: bytes, **query: str) -> dict:
    response = client.post("/predictions", params=query, files={"file": ("photo", photo)})
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_models_lists_each_checkpoint_with_its_metadata(two_models: TestClient) -> None:
    listing = two_models.get("/models").json()
    assert listing["default"] == "camserve-resnet34"
    assert [m["name"] for m in listing["models"]] == ["camserve-resnet34", CIFAR]
    for model, weights in zip(listing["models"], (SHIPPED_WEIGHTS, SHIPPED_CIFAR_WEIGHTS), strict=True):
        written = json.loads(metadata_path(weights).read_text())
        assert model["version"] == written["version"]
        assert model["architecture"] == written["architecture"]
        assert model["classes"] == written["class_names"]
        assert model["input_size"] == written["input_size"]
        assert model["mean"] == written["mean"] and model["std"] == written["std"]
        assert model["temperature"] == written["temperature"]
        assert model["details"] == written["extra"]
        assert model["ready"] is True and model["trained"] is True
        assert (model["runtime"], model["precision"], model["device"]) == ("torch", "fp32", "cpu")
    assert [m["default"] for m in listing["models"]] == [True, False]


def test_a_cifar_photo_gets_ten_classes_and_ten_maps(two_models: TestClient, chelsea_bytes: bytes) -> None:
    result = ask(two_models, chelsea_bytes, model=CIFAR)
    assert result["model"] == {"name": CIFAR, "version": "1.0.0", "trained": True}
    assert list(result["probabilities"]) == CIFAR_CLASSES
    assert result["label"] in CIFAR_CLASSES
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert two_models.get(result["links"]["self"]).json()["model"]["name"] == CIFAR
    maps = two_models.get(f"{result['links']['self']}/maps").json()
    assert maps["classes"] == CIFAR_CLASSES
    assert np.asarray(maps["class_maps"]).shape == (10, 2, 2)
    assert maps["grid"]["cell_width"] == result["width"] / 2
    for name in ("airplane", "truck"):
        assert two_models.get(result["links"]["overlay"], params={"class": name}).status_code == 200


@pytest.mark.skipif(not CIFAR_ARCHIVE.exists(), reason=f"the CIFAR-10 archive is not at {CIFAR_ARCHIVE}")
def test_cifar_test_images_are_answered_as_the_trained_model_scores_them(two_models: TestClient) -> None:
    """Three test images per class through the HTTP path (decode, resize, normalisation): the checkpoint scored
    81.9% on the whole test set in training, so a broken input path (BGR, wrong statistics) would show here."""
    images = shared_cifar_test_images(per_class=3)
    answers = [ask(two_models, jpeg, model=CIFAR, store="false") for _, jpeg in images]
    assert all(answer["label"] in CIFAR_CLASSES for answer in answers)
    right = sum(answer["label"] == truth for answer, (truth, _) in zip(answers, images, strict=True))
    assert right >= 0.6 * len(images), f"{right} of {len(images)} right"
    stored = ask(two_models, images[0][1], model=CIFAR)
    maps = two_models.get(f"{stored['links']['self']}/maps").json()
    assert maps["classes"] == CIFAR_CLASSES and np.asarray(maps["class_maps"]).shape == (10, 2, 2)


def test_without_a_model_the_default_answers_as_before(two_models: TestClient, chelsea_bytes: bytes) -> None:
    result = ask(two_models, chelsea_bytes)
    assert result["model"]["name"] == "camserve-resnet34"
    assert result["label"] == "cat"
    maps = two_models.get(f"{result['links']['self']}/maps").json()
    assert maps["classes"] == ["cat", "dog"]


def test_an_unknown_model_is_refused_with_the_served_names(two_models: TestClient, chelsea_bytes: bytes) -> None:
    response = two_models.post("/predictions", params={"model": "resnet50"}, files={"file": ("c", chelsea_bytes)})
    assert response.status_code == 422
    assert "camserve-resnet34" in response.json()["detail"] and CIFAR in response.json()["detail"]


def test_a_class_is_checked_against_the_answering_models_classes(two_models: TestClient, chelsea_bytes: bytes) -> None:
    cats_and_dogs = ask(two_models, chelsea_bytes)
    cifar = ask(two_models, chelsea_bytes, model=CIFAR)
    assert two_models.get(cats_and_dogs["links"]["overlay"], params={"class": "airplane"}).status_code == 422
    assert two_models.get(cifar["links"]["heatmap"], params={"class": "airplane"}).status_code == 200
    cifar_cat = two_models.post(
        "/predictions", params={"model": CIFAR, "store": "false", "class": "cat"}, files={"file": ("c", chelsea_bytes)}
    )
    assert cifar_cat.status_code == 200  # CIFAR-10 has a cat too
    wrong = two_models.post(
        "/predictions", params={"store": "false", "class": "truck"}, files={"file": ("c", chelsea_bytes)}
    )
    assert wrong.status_code == 422


def test_tta_and_zoom_run_on_the_chosen_model(two_models: TestClient, chelsea_bytes: bytes) -> None:
    result = ask(two_models, chelsea_bytes, model=CIFAR, tta="true", zoom="true")
    assert result["tta"] is True and result["zoom"]["requested"] is True
    assert list(result["probabilities"]) == CIFAR_CLASSES
    if result["zoom"]["used"]:
        assert list(result["zoom"]["crop_probabilities"]) == CIFAR_CLASSES


def test_a_result_stays_readable_after_its_model_is_no_longer_served(
    settings: Settings, served_predictor: TorchPredictor, cifar_predictor: TorchPredictor, chelsea_bytes: bytes
) -> None:
    with TestClient(create_app(settings, served_predictor, extra_models=[LoadedModel.given(cifar_predictor)])) as c:
        wait_until_ready(c)
        result = ask(c, chelsea_bytes, model=CIFAR)
        before = c.get(f"{result['links']['self']}/maps").json()
    with TestClient(create_app(settings, served_predictor)) as alone:
        wait_until_ready(alone)
        assert [m["name"] for m in alone.get("/models").json()["models"]] == ["camserve-resnet34"]
        assert alone.get(f"{result['links']['self']}/maps").json() == before
        overlay = alone.get(result["links"]["overlay"], params={"class": "frog"})
        assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"


def test_both_models_at_once_answer_as_one_at_a_time(
    settings: Settings, served_predictor: TorchPredictor, cifar_predictor: TorchPredictor
) -> None:
    """Photos for both models sent all at once, interleaved, get what they get one by one: each engine batches
    only its own model's photos, each answer names its model, and no hook is left on either network."""
    photos = [random_photo(seed) for seed in range(300, 308)]
    sends = [(photo, model) for photo in photos for model in ("camserve-resnet34", CIFAR)]
    app = create_app(settings, served_predictor, extra_models=[LoadedModel.given(cifar_predictor)])

    async def answers(concurrently: bool) -> list[dict]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://camserve") as client:

                async def send(photo: bytes, model: str) -> dict:
                    params = {"model": model, "store": "false"}
                    response = await client.post("/predictions", params=params, files={"file": ("p", photo)})
                    assert response.status_code == 200, response.text
                    return response.json()

                if concurrently:
                    return list(await asyncio.gather(*(send(photo, model) for photo, model in sends)))
                return [await send(photo, model) for photo, model in sends]

    one_by_one, at_once = run_in_own_loop(answers(False)), run_in_own_loop(answers(True))
    for (_, model), alone, together in zip(sends, one_by_one, at_once, strict=True):
        assert alone["model"]["name"] == together["model"]["name"] == model
        assert together["label"] == alone["label"]
        assert together["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-5)
    assert served_predictor.hook_count == cifar_predictor.hook_count == 0


def test_readyz_waits_for_every_model(two_models: TestClient) -> None:
    served = two_models.app.state.camserve.models
    served.pick(CIFAR).engine.ready = False
    assert two_models.get("/readyz").status_code == 503
    assert [m["ready"] for m in two_models.get("/models").json()["models"]] == [True, False]


def test_metrics_name_each_models_runtime_and_forwards(two_models: TestClient, chelsea_bytes: bytes) -> None:
    ask(two_models, chelsea_bytes, model=CIFAR)
    text = two_models.get("/metrics").text
    for name in ("camserve-resnet34", CIFAR):
        assert f'camserve_runtime_info{{model="{name}",precision="fp32",runtime="torch",source="given"}} 1.0' in text
    assert f'camserve_inference_batch_size_count{{model="{CIFAR}"}} 1.0' in text
    assert 'camserve_inference_batch_size_count{model="camserve-resnet34"} 0.0' in text  # there before any forward
    assert f'camserve_inference_seconds_count{{model="{CIFAR}"}} 1.0' in text


def test_settings_serve_the_shipped_cifar_model_beside_the_default_at_its_own_precision(tmp_path: Path) -> None:
    settings = Settings(store_path=tmp_path / "s.sqlite3", precision="int8")
    default, extra = settings.runtime_requests()
    assert (default.weights_path, default.precision) == (SHIPPED_WEIGHTS, "int8")
    assert (extra.weights_path, extra.precision) == (SHIPPED_CIFAR_WEIGHTS, "auto")
    alone = Settings(store_path=tmp_path / "s.sqlite3", extra_weights=[])
    assert [r.weights_path for r in alone.runtime_requests()] == [SHIPPED_WEIGHTS]
