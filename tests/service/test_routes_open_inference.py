"""The Open Inference Protocol v2 routes, driven by the protocol's own client (tritonclient's HTTP client) on a
real socket: health, metadata, inference of one photo and of a batch, requested and binary outputs, and the
refusals in the protocol's form. One server for the module, on both committed models, with an API key
(tests/service/conftest.py)."""

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
import tritonclient.http as triton
from fastapi.testclient import TestClient
from PIL import Image
from tritonclient.utils import InferenceServerException

from camserve.models.inference.cam import class_cam, normalise
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.networks import SlowPredictor
from tests.support.open_inference import CATS_DOGS, CIFAR, keyed, posted
from tests.support.photos import encode
from tests.support.servers import wait_until_ready

ALL_OUTPUTS = ("probabilities", "label", "class_maps", "cam", "id")


@pytest.fixture(scope="module")
def triton_client(base_url: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=base_url.removeprefix("http://"))
    yield client
    client.close()


def photo_input(photos: list[bytes], binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("photo", [len(photos)], "BYTES")
    return tensor.set_data_from_numpy(np.array(photos, dtype=np.object_), binary_data=binary)


def infer(
    client: triton.InferenceServerClient,
    photos: list[bytes],
    outputs: tuple[str, ...] = (),
    binary: bool = True,
    model: str = CATS_DOGS,
    **parameters: Any,
) -> triton.InferResult:
    requested = [triton.InferRequestedOutput(name, binary_data=binary) for name in outputs]
    return client.infer(
        model, [photo_input(photos)], outputs=requested or None, headers=keyed(), parameters=parameters or None
    )


def refusal(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as raised:
        call()
    return raised.value


def test_the_server_is_live_ready_and_says_what_it_speaks(triton_client: triton.InferenceServerClient) -> None:
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    metadata = triton_client.get_server_metadata()
    assert metadata["name"] == "camserve" and "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize(("model", "version"), [(CATS_DOGS, "2.0.0"), (CIFAR, "1.0.0")])
def test_every_model_s_metadata_says_the_shapes_its_answers_have(
    triton_client: triton.InferenceServerClient, chelsea_bytes: bytes, model: str, version: str
) -> None:
    assert triton_client.is_model_ready(model) and triton_client.is_model_ready(model, version)
    assert not triton_client.is_model_ready(model, "0.0.1")
    metadata = triton_client.get_model_metadata(model, version)
    assert metadata == triton_client.get_model_metadata(model)
    assert metadata["name"] == model and metadata["versions"] == [version]
    assert metadata["inputs"] == [{"name": "photo", "datatype": "BYTES", "shape": [-1]}]
    declared = {output["name"]: output for output in metadata["outputs"]}
    assert tuple(declared) == ALL_OUTPUTS
    result = infer(triton_client, [chelsea_bytes, chelsea_bytes], ALL_OUTPUTS, model=model)
    for name, output in declared.items():
        answered = result.as_numpy(name)
        assert answered is not None
        assert result.get_output(name)["datatype"] == output["datatype"]
        assert [2, *output["shape"][1:]] == list(answered.shape), name  # the grid is known, not -1


def test_one_photo_answers_as_its_post_does(
    triton_client: triton.InferenceServerClient, base_url: str, chelsea_bytes: bytes
) -> None:
    result = infer(triton_client, [chelsea_bytes])  # no outputs named: probabilities and label, in binary
    assert [output["name"] for output in result.get_response()["outputs"]] == ["probabilities", "label"]
    assert all("binary_data_size" in output["parameters"] for output in result.get_response()["outputs"])
    post = posted(base_url, chelsea_bytes)
    assert result.as_numpy("label").tolist() == [b"cat"] == [post["label"].encode()]
    np.testing.assert_allclose(result.as_numpy("probabilities")[0], list(post["probabilities"].values()), atol=1e-5)


def test_a_batch_answers_each_photo_as_its_post_does(
    triton_client: triton.InferenceServerClient, base_url: str, batch: list[bytes]
) -> None:
    for model in (CATS_DOGS, CIFAR):
        result = infer(triton_client, batch, ("label", "probabilities"), model=model)
        posts = [posted(base_url, photo, model) for photo in batch]
        assert result.as_numpy("label").tolist() == [post["label"].encode() for post in posts]
        expected = [list(post["probabilities"].values()) for post in posts]
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-5)


def test_only_the_outputs_asked_for_come_back_and_match_the_stored_maps(
    triton_client: triton.InferenceServerClient, base_url: str, chelsea_bytes: bytes
) -> None:
    result = infer(triton_client, [chelsea_bytes], ("cam", "class_maps", "id"), binary=False)
    outputs = result.get_response()["outputs"]
    assert [output["name"] for output in outputs] == ["cam", "class_maps", "id"]
    assert all("data" in output and "parameters" not in output for output in outputs)  # JSON, as asked
    (prediction_id,) = result.as_numpy("id").tolist()
    stored = httpx.get(f"{base_url}/predictions/{prediction_id}/maps").json()  # JSON BYTES: text
    np.testing.assert_allclose(result.as_numpy("class_maps")[0], stored["class_maps"], atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("cam")[0], stored["cam"], atol=1e-6)


def test_binary_outputs_carry_the_same_numbers_as_json_ones(
    triton_client: triton.InferenceServerClient, chelsea_bytes: bytes
) -> None:
    outputs = ("probabilities", "label", "class_maps", "cam")
    binary = infer(triton_client, [chelsea_bytes], outputs, binary=True, store=False)
    in_json = infer(triton_client, [chelsea_bytes], outputs, binary=False, store=False)
    for output in binary.get_response()["outputs"]:
        assert "data" not in output and output["parameters"]["binary_data_size"] > 0
    for name in ("probabilities", "class_maps", "cam"):
        assert binary.as_numpy(name).dtype == np.float32
        np.testing.assert_allclose(binary.as_numpy(name), in_json.as_numpy(name), atol=1e-6)
    assert binary.as_numpy("label").tolist() == [b"cat"] and in_json.as_numpy("label").tolist() == ["cat"]


def test_parameters_mean_what_the_post_s_options_mean(
    triton_client: triton.InferenceServerClient, base_url: str, chelsea_bytes: bytes
) -> None:
    unstored = infer(triton_client, [chelsea_bytes], ("id", "cam", "class_maps"), store=False)
    assert unstored.as_numpy("id").tolist() == [b""]
    cams = []
    for index, name in enumerate(("cat", "dog")):
        own = infer(triton_client, [chelsea_bytes], ("cam", "class_maps"), store=False, **{"class": name})
        expected = normalise(class_cam(own.as_numpy("class_maps")[0], index))
        np.testing.assert_allclose(own.as_numpy("cam")[0], expected, atol=1e-6)
        cams.append(own.as_numpy("cam")[0])
    assert not np.allclose(cams[0], cams[1], atol=1e-3)
    mirrored = infer(triton_client, [chelsea_bytes], ("probabilities",), store=False, tta=True)
    post = httpx.post(
        f"{base_url}/predictions",
        params={"tta": "true", "store": "false"},
        files={"file": ("p", chelsea_bytes)},
        headers=keyed(),
    )
    expected_probabilities = list(post.json()["probabilities"].values())
    np.testing.assert_allclose(mirrored.as_numpy("probabilities")[0], expected_probabilities, atol=1e-5)
    for parameters, message in (({"class": "horse"}, "unknown class"), ({"tta": "yes"}, "true or false")):
        error = refusal(lambda parameters=parameters: infer(triton_client, [chelsea_bytes], **parameters))
        assert error.status() == "400" and message in error.message()


def test_photos_in_json_are_base64_in_either_shape(base_url: str, batch: list[bytes]) -> None:
    encoded = [base64.b64encode(photo).decode() for photo in batch]
    for shape, data in (([3], encoded), ([3, 1], [[element] for element in encoded])):
        request = {
            "id": "json-1",
            "inputs": [{"name": "photo", "shape": shape, "datatype": "BYTES", "data": data}],
            "outputs": [{"name": "label"}],
            "parameters": {"store": False},
        }
        response = httpx.post(f"{base_url}/v2/models/{CATS_DOGS}/infer", json=request, headers=keyed())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == "json-1" and body["model_name"] == CATS_DOGS and body["model_version"] == "2.0.0"
        assert body["outputs"][0]["shape"] == [3] and body["outputs"][0]["data"][0] == "cat"


def test_bad_requests_are_refused_in_the_protocol_s_form(
    triton_client: triton.InferenceServerClient, base_url: str, chelsea_bytes: bytes
) -> None:
    floats = triton.InferInput("photo", [1], "FP32").set_data_from_numpy(np.zeros(1, np.float32))
    wrong_shape = triton.InferInput("photo", [1, 2], "BYTES")
    wrong_shape.set_data_from_numpy(np.array([[chelsea_bytes, chelsea_bytes]], dtype=np.object_))
    cases = {
        "must be BYTES": lambda: triton_client.infer(CATS_DOGS, [floats], headers=keyed()),
        "shape [N] or [N, 1]": lambda: triton_client.infer(CATS_DOGS, [wrong_shape], headers=keyed()),
        "no output named": lambda: infer(triton_client, [chelsea_bytes], ("overlay",)),
        "not an image": lambda: infer(triton_client, [b"no photo at all"]),
        "could not be decoded": lambda: infer(triton_client, [chelsea_bytes[: len(chelsea_bytes) // 2]]),
        "no model named": lambda: triton_client.infer("resnet50", [photo_input([chelsea_bytes])], headers=keyed()),
        "has no version": lambda: triton_client.infer(
            CATS_DOGS, [photo_input([chelsea_bytes])], model_version="9", headers=keyed()
        ),
        "X-API-Key": lambda: triton_client.infer(CATS_DOGS, [photo_input([chelsea_bytes])]),
    }
    statuses = {}
    for message, call in cases.items():
        error = refusal(call)
        assert message in error.message(), error.message()
        statuses[message] = error.status()
    assert statuses == {
        "must be BYTES": "400",
        "shape [N] or [N, 1]": "400",
        "no output named": "400",
        "not an image": "415",
        "could not be decoded": "400",
        "no model named": "404",
        "has no version": "404",
        "X-API-Key": "401",
    }


def test_oversized_photos_and_bodies_are_413(triton_client: triton.InferenceServerClient) -> None:
    limit = Settings().max_upload_bytes
    photo_too_large = refusal(lambda: infer(triton_client, [b"\0" * (limit + 1)]))
    assert photo_too_large.status() == "413" and "upload is larger" in photo_too_large.message()  # the pipeline's
    body_too_large = refusal(lambda: infer(triton_client, [b"\0" * limit, b"\0" * limit]))
    assert body_too_large.status() == "413" and "body is larger" in body_too_large.message()  # BodySizeLimit's


def test_a_busy_server_answers_503_and_keeps_none_of_the_batch(
    tmp_path: Path, red_patch_predictor: TorchPredictor
) -> None:
    slow = SlowPredictor(red_patch_predictor.model, red_patch_predictor.metadata, torch.device("cpu"), "fp32")
    settings = Settings(store_path=tmp_path / "s.sqlite3", queue_max=2, batch_max_size=1)
    photos = [base64.b64encode(encode(Image.new("RGB", (64, 48), (i, 0, 0)))).decode() for i in range(8)]
    request = {"inputs": [{"name": "photo", "shape": [len(photos)], "datatype": "BYTES", "data": photos}]}
    with TestClient(create_app(settings, slow)) as client:
        wait_until_ready(client)
        response = client.post(f"/v2/models/{slow.metadata.name}/infer", json=request)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert "busy" in response.json()["error"]
        assert client.app.state.camserve.store.count() == 0


def test_readiness_follows_camserve_s_own(client: TestClient) -> None:
    model = client.app.state.camserve.models.default
    assert client.get("/v2/health/ready").json() == {"ready": True}
    model.engine.ready = False
    assert client.get("/readyz").status_code == 503
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and ready.json() == {"ready": False}
    model_ready = client.get(f"/v2/models/{model.name}/ready")
    assert model_ready.status_code == 503 and model_ready.json() == {"name": model.name, "ready": False}
    assert client.get("/v2/health/live").json() == {"live": True}
