"""The protocol's body, without a server: JSON and binary tensor data in, tensors out and back, and every
malformed body refused with a message that says what is wrong."""

import base64
import json
import struct
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from camserve.service.open_inference.codec import (
    BadRequest,
    OutputTensor,
    WantedOutput,
    bytes_elements,
    encode_response,
    read_request,
    wanted_outputs,
)
from camserve.service.open_inference.messages import InferenceRequest

PHOTOS = [b"\x89PNG first", b"", b"\xff\xd8 third \x00 with a zero"]


def triton_body(photos: list[bytes], binary: bool = True) -> tuple[bytes, str | None]:
    """The body tritonclient itself sends for ``photos``, and its header length (None: JSON only)."""
    tensor = triton.InferInput("photo", [len(photos)], "BYTES")
    tensor.set_data_from_numpy(np.array(photos, dtype=np.object_), binary_data=binary)
    body, json_length = triton.InferenceServerClient.generate_request_body([tensor])
    return body, None if json_length is None else str(json_length)


def json_body(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def photo_request(**fields: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "photo", "shape": [1], "datatype": "BYTES", **fields}]}


def test_binary_bytes_as_tritonclient_sends_them_read_back_element_by_element() -> None:
    body, header_length = triton_body(PHOTOS)
    assert header_length is not None
    read = read_request(body, header_length)
    (tensor,) = read.request.inputs
    assert bytes_elements(tensor, read.binary["photo"]) == PHOTOS


def test_json_bytes_are_base64_flat_or_nested() -> None:
    encoded = [base64.b64encode(photo).decode() for photo in PHOTOS]
    for data in (encoded, [[element] for element in encoded]):
        read = read_request(json_body(photo_request(data=data)), None)
        assert read.binary == {}
        assert bytes_elements(read.request.inputs[0], None) == PHOTOS


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (b"not json", None, "no inference request"),
        (json_body({"inputs": "photo"}), None, "inputs: Input should be a valid array"),
        (json_body(photo_request()), None, "neither data nor binary_data_size"),
        (json_body(photo_request(data=[], parameters={"binary_data_size": 0})), None, "both data and"),
        (b"{}", "ten", "Inference-Header-Content-Length must be a length"),
        (json_body(photo_request(parameters={"binary_data_size": 10})), None, "the body ends before"),
        (json_body(photo_request(parameters={"binary_data_size": True})), None, "must be a byte count"),
        (json_body(photo_request(parameters={"binary_data_size": -1})), None, "must be a byte count"),
        (json_body(photo_request(data=["eA=="])) + b"extra", None, "no inference request"),
        (b"{}", "-1", "must be a length"),
        (b"{}", "3", "must be a length"),
    ],
)
def test_malformed_bodies_are_bad_requests(body: bytes, header_length: str | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        read_request(body, header_length)


def test_binary_data_no_input_claims_is_refused() -> None:
    header = json_body(photo_request(data=["eA=="]))
    with pytest.raises(BadRequest, match="5 bytes after the JSON belong to no input"):
        read_request(header + b"extra", str(len(header)))


def test_two_inputs_of_one_name_are_refused() -> None:
    twice = {"inputs": photo_request(data=[])["inputs"] * 2}
    with pytest.raises(BadRequest, match="input names must differ"):
        read_request(json_body(twice), None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (struct.pack("<I", 5) + b"abc", "ends before"),
        (b"\x01\x00", "inside an element's 4-byte length"),
    ],
)
def test_truncated_binary_bytes_are_refused(raw: bytes, message: str) -> None:
    tensor = read_request(json_body(photo_request(data=[])), None).request.inputs[0]
    with pytest.raises(BadRequest, match=message):
        bytes_elements(tensor, raw)


@pytest.mark.parametrize(("element", "message"), [("not base64!", "must be base64"), (7, "got int")])
def test_json_bytes_that_are_no_base64_string_are_refused(element: Any, message: str) -> None:
    tensor = read_request(json_body(photo_request(data=[element])), None).request.inputs[0]
    with pytest.raises(BadRequest, match=message):
        bytes_elements(tensor, None)


def request_with(**fields: Any) -> InferenceRequest:
    return InferenceRequest.model_validate({"inputs": [], **fields})


def test_outputs_are_binary_as_the_output_or_else_the_request_says() -> None:
    assert wanted_outputs(request_with(), ["a", "b"]) == [WantedOutput("a", False), WantedOutput("b", False)]
    everything_binary = request_with(parameters={"binary_data_output": True})
    assert wanted_outputs(everything_binary, ["a"]) == [WantedOutput("a", True)]
    mixed = request_with(
        parameters={"binary_data_output": True},
        outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    )
    assert wanted_outputs(mixed, ["z"]) == [WantedOutput("a", True), WantedOutput("b", False)]
    one_binary = request_with(outputs=[{"name": "a", "parameters": {"binary_data": True}}])
    assert wanted_outputs(one_binary, ["z"]) == [WantedOutput("a", True)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outputs": [{"name": "a"}, {"name": "a"}]}, "asked for once"),
        ({"outputs": [{"name": "a", "parameters": {"classification": 2}}]}, "classification extension"),
        ({"outputs": [{"name": "a", "parameters": {"binary_data": "yes"}}]}, "output 'a': binary_data must be"),
        ({"parameters": {"binary_data_output": 1}}, "binary_data_output must be true or false"),
    ],
)
def test_bad_output_requests_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        wanted_outputs(request_with(**fields), ["a"])


def test_a_response_tritonclient_reads_back_in_json_and_in_binary() -> None:
    maps = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    labels = [b"cat", b"dog"]
    for binary in (False, True):
        tensors = [
            (OutputTensor("maps", "FP32", maps.shape, maps), binary),
            (OutputTensor("label", "BYTES", (2,), labels), binary),
        ]
        encoded = encode_response("m", "1.0", "request-7", tensors)
        assert (encoded.header_length is not None) == binary
        result = triton.InferResult.from_response_body(encoded.body, header_length=encoded.header_length)
        assert result.get_response()["model_name"] == "m" and result.get_response()["id"] == "request-7"
        np.testing.assert_array_equal(result.as_numpy("maps"), maps)
        read_labels = result.as_numpy("label").tolist()
        assert read_labels == (labels if binary else ["cat", "dog"])


def test_a_response_without_an_id_has_none() -> None:
    encoded = encode_response("m", "1.0", None, [])
    assert json.loads(encoded.body) == {"model_name": "m", "model_version": "1.0", "outputs": []}
