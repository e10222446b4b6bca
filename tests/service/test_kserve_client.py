"""The Open Inference Protocol v2 routes, driven by KServe's own Python client (``kserve.InferenceRESTClient``,
asynchronous, on a real socket): health, readiness, metadata read into KServe's own response models, inference
of one photo and of a batch as the POST answers them, requested outputs, and refusals as the client raises them.
One server for the module, on both committed models, with an API key (tests/service/conftest.py)."""

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, InferResponse, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse, ServerMetadataResponse

from camserve.service.settings import Settings
from tests.support.aio import run_in_own_loop
from tests.support.open_inference import CATS_DOGS, CIFAR, keyed, posted

T = TypeVar("T")
REQUEST_ID = "kserve-client-test"


def with_client(use: Callable[[InferenceRESTClient], Awaitable[T]]) -> T:
    """One call through a fresh client: its httpx pool belongs to the event loop it was first used on, and each
    call runs on a loop of its own."""

    async def run() -> T:
        async with InferenceRESTClient(RESTConfig(protocol="v2", retries=0)) as client:
            return await use(client)

    return run_in_own_loop(run())


def photo_input(photos: list[bytes], binary: bool = True) -> InferInput:
    """The photos as one BYTES input: binary tensor data, as the client sends bytes by default, or base64
    strings in the JSON (the client can put only UTF-8 text there)."""
    if binary:
        tensor = InferInput("photo", [len(photos)], "BYTES")
        tensor.set_data_from_numpy(np.array(photos, dtype=np.object_), binary_data=True)
        return tensor
    return InferInput("photo", [len(photos)], "BYTES", data=[base64.b64encode(photo).decode() for photo in photos])


@dataclass(frozen=True)
class Answered:
    response: InferResponse
    headers: dict[str, str]

    @property
    def names(self) -> list[str]:
        return [tensor.name for tensor in self.response.outputs]

    @property
    def binary(self) -> bool:
        """Whether binary tensor data followed the JSON: the client's parsed response no longer says."""
        return "inference-header-content-length" in self.headers

    def output(self, name: str) -> np.ndarray:
        found = self.response.get_output_by_name(name)
        assert found is not None, f"no output {name!r} in {self.names}"
        values: np.ndarray = found.as_numpy()
        return values

    def labels(self) -> list[str]:
        """The label output's elements: the client decodes binary BYTES outputs to text as it reads them."""
        return [str(label) for label in self.output("label").tolist()]


def infer(
    base_url: str,
    tensor: InferInput,
    outputs: tuple[str, ...] = (),
    binary_outputs: bool = True,
    model: str = CATS_DOGS,
    **parameters: Any,
) -> Answered:
    requested = [RequestedOutput(name, {"binary_data": binary_outputs}) for name in outputs]
    request = InferRequest(
        model, [tensor], REQUEST_ID, parameters=parameters or None, request_outputs=requested or None
    )
    headers: dict[str, str] = {}
    response: InferResponse = with_client(
        lambda client: client.infer(base_url, request, model, headers=keyed(), response_headers=headers)
    )
    return Answered(response, headers)


def refusal(base_url: str, tensor: InferInput, model: str = CATS_DOGS) -> httpx.HTTPStatusError:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        infer(base_url, tensor, model=model)
    return raised.value


def test_the_server_is_live_and_ready_and_says_what_it_speaks(base_url: str) -> None:
    assert with_client(lambda client: client.is_server_live(base_url)) is True
    assert with_client(lambda client: client.is_server_ready(base_url)) is True
    metadata = ServerMetadataResponse.model_validate_json(httpx.get(f"{base_url}/v2").content)
    assert metadata.name == "camserve" and "binary_tensor_data" in metadata.extensions


@pytest.mark.parametrize(("model", "version"), [(CATS_DOGS, "2.0.0"), (CIFAR, "1.0.0")])
def test_every_model_is_ready_and_its_metadata_reads_as_kserve_s_own(base_url: str, model: str, version: str) -> None:
    """The client has no metadata call: the answer is read into the response model KServe's own server uses."""
    assert with_client(lambda client: client.is_model_ready(base_url, model)) is True
    assert with_client(lambda client: client.is_model_ready(base_url, "resnet50")) is False
    metadata = ModelMetadataResponse.model_validate_json(httpx.get(f"{base_url}/v2/models/{model}").content)
    assert metadata.name == model and metadata.versions == [version]
    assert [(t.name, t.datatype, t.shape) for t in metadata.inputs] == [("photo", "BYTES", [-1])]
    assert [t.name for t in metadata.outputs] == ["probabilities", "label", "class_maps", "cam", "id"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary-photo", "base64-photo"])
def test_one_photo_answers_as_its_post_does(base_url: str, chelsea_bytes: bytes, binary: bool) -> None:
    answered = infer(base_url, photo_input([chelsea_bytes], binary), store=False)
    assert (answered.response.model_name, answered.response.id) == (CATS_DOGS, REQUEST_ID)
    assert answered.names == ["probabilities", "label"] and not answered.binary  # none named: the defaults, JSON
    post = posted(base_url, chelsea_bytes)
    assert answered.labels() == ["cat"] == [post["label"]]
    np.testing.assert_allclose(answered.output("probabilities")[0], list(post["probabilities"].values()), atol=1e-5)


@pytest.mark.parametrize("model", [CATS_DOGS, CIFAR])
def test_a_batch_of_three_answers_each_photo_as_its_post_does(base_url: str, batch: list[bytes], model: str) -> None:
    answered = infer(base_url, photo_input(batch), ("label", "probabilities"), model=model, store=False)
    posts = [posted(base_url, photo, model) for photo in batch]
    assert answered.labels() == [post["label"] for post in posts]
    probabilities = answered.output("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (3, len(posts[0]["probabilities"]))
    np.testing.assert_allclose(probabilities, [list(post["probabilities"].values()) for post in posts], atol=1e-5)


@pytest.mark.parametrize("binary", [True, False], ids=["binary-outputs", "json-outputs"])
def test_only_the_outputs_asked_for_come_back(base_url: str, chelsea_bytes: bytes, binary: bool) -> None:
    answered = infer(base_url, photo_input([chelsea_bytes]), ("cam", "id"), binary_outputs=binary)
    assert answered.names == ["cam", "id"] and answered.binary is binary
    (prediction_id,) = answered.output("id").tolist()
    stored = httpx.get(f"{base_url}/predictions/{prediction_id}/maps")
    assert stored.status_code == 200, stored.text
    np.testing.assert_allclose(answered.output("cam")[0], stored.json()["cam"], atol=1e-6)


def test_an_unknown_model_raises_with_the_404(base_url: str, chelsea_bytes: bytes) -> None:
    error = refusal(base_url, photo_input([chelsea_bytes]), model="resnet50")
    assert error.response.status_code == 404 and "no model named" in str(error)


def test_a_wrong_datatype_raises_with_the_400(base_url: str) -> None:
    floats = InferInput("photo", [1], "FP32")
    floats.set_data_from_numpy(np.zeros(1, np.float32))
    error = refusal(base_url, floats)
    assert error.response.status_code == 400 and "must be BYTES" in str(error)


def test_photos_camserve_cannot_take_raise_with_the_protocol_s_status(base_url: str, chelsea_bytes: bytes) -> None:
    wrong_shape = InferInput("photo", [1, 2], "BYTES")
    wrong_shape.set_data_from_numpy(np.array([[chelsea_bytes, chelsea_bytes]], dtype=np.object_))
    cases = {
        "shape [N] or [N, 1]": (wrong_shape, 400),
        "could not be decoded": (photo_input([chelsea_bytes[: len(chelsea_bytes) // 2]]), 400),
        "not an image": (photo_input([b"no photo at all"]), 415),
        "upload is larger": (photo_input([b"\0" * (Settings().max_upload_bytes + 1)]), 413),
    }
    for message, (tensor, status) in cases.items():
        error = refusal(base_url, tensor)
        assert (error.response.status_code, message in str(error)) == (status, True), str(error)
