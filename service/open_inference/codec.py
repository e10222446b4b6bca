"""An inference request's body to its JSON and tensors, and a response's tensors to a body.

A body is JSON, or JSON followed by the tensors' raw bytes: Triton's binary tensor data extension, which
tritonclient uses by default (``Inference-Header-Content-Length`` says where the JSON ends; each tensor sent
that way says its size in ``binary_data_size``, and the bytes follow in the order of the tensors). A BYTES
element in binary is a 4-byte little-endian length and its bytes; in JSON it is a string, which for the photos
a client sends is base64 (raw photo bytes are no JSON text), as KServe's image examples send them.
"""

import base64
import binascii
import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from camserve.service.open_inference.messages import InferenceRequest, Parameters, RequestInput

__all__ = [
    "BINARY_TENSOR_DATA",
    "HEADER_LENGTH",
    "BadRequest",
    "EncodedResponse",
    "OutputTensor",
    "ReadRequest",
    "WantedOutput",
    "bytes_elements",
    "encode_response",
    "read_request",
    "wanted_outputs",
]

BINARY_TENSOR_DATA = "binary_tensor_data"  # the extension's name in the server metadata
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_DATA_SIZE = "binary_data_size"
_LENGTH = struct.Struct("<I")


class BadRequest(ValueError):
    """A request the protocol or this model cannot take as sent (400); the message says what is wrong."""


@dataclass(frozen=True)
class ReadRequest:
    """The request's JSON, and the binary data of each input sent that way, by input name: views into the body,
    so a body of photos is not copied whole again before each photo is."""

    request: InferenceRequest
    binary: dict[str, memoryview]


@dataclass(frozen=True)
class WantedOutput:
    name: str
    binary: bool  # sent as binary data after the JSON, not in it


@dataclass(frozen=True)
class OutputTensor:
    """An output: FP32 values as a float32 array of ``shape``, or BYTES elements in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray | Sequence[bytes]


@dataclass(frozen=True)
class EncodedResponse:
    body: bytes
    header_length: int | None  # the JSON's length when binary data follows it; None for JSON alone


def read_request(body: bytes, header_length: str | None) -> ReadRequest:
    """Split the body into its JSON and each binary input's bytes, every size checked against the body."""
    json_length = len(body) if header_length is None else _header_length(header_length, len(body))
    try:
        request = InferenceRequest.model_validate_json(body[:json_length])
    except ValidationError as error:
        raise BadRequest(f"the request is no inference request: {_describe(error)}") from None
    names = [tensor.name for tensor in request.inputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"input names must differ, got {names}")
    view = memoryview(body)
    binary: dict[str, memoryview] = {}
    offset = json_length
    for tensor in request.inputs:
        size = _binary_size(tensor)
        if size is None:
            continue
        if offset + size > len(body):
            raise BadRequest(f"input {tensor.name!r} says {size} bytes of binary data; the body ends before")
        binary[tensor.name] = view[offset : offset + size]
        offset += size
    if offset != len(body):
        raise BadRequest(f"{len(body) - offset} bytes after the JSON belong to no input's binary_data_size")
    return ReadRequest(request, binary)


def bytes_elements(tensor: RequestInput, binary: bytes | memoryview | None) -> list[bytes]:
    """A BYTES input's elements: from its binary data, or from its JSON strings in base64."""
    if binary is not None:
        return list(_length_prefixed(tensor.name, binary))
    return [_base64(tensor.name, element) for element in _flat(tensor.data or [])]


def wanted_outputs(request: InferenceRequest, default: Sequence[str]) -> list[WantedOutput]:
    """The outputs asked for (``default`` when the request names none), each binary when the output's
    ``binary_data`` says so or, where it says nothing, the request's ``binary_data_output``."""
    binary_by_default = bool(_flag(request.parameters, "binary_data_output", "the request"))
    if request.outputs is None:
        return [WantedOutput(name, binary_by_default) for name in default]
    names = [output.name for output in request.outputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"each output may be asked for once, got {names}")
    wanted = []
    for output in request.outputs:
        if "classification" in output.parameters:
            raise BadRequest("the classification extension is not supported: ask for probabilities and label")
        binary = _flag(output.parameters, "binary_data", f"output {output.name!r}")
        wanted.append(WantedOutput(output.name, binary_by_default if binary is None else binary))
    return wanted


def encode_response(
    model_name: str, model_version: str, request_id: str | None, outputs: Sequence[tuple[OutputTensor, bool]]
) -> EncodedResponse:
    """The response body: each output in the JSON, or after it as binary data where its flag says so."""
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for tensor, binary in outputs:
        output: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if binary:
            chunk = _binary(tensor)
            output["parameters"] = {BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            output["data"] = _json_data(tensor)
        described.append(output)
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        header["id"] = request_id
    header["outputs"] = described
    encoded = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return EncodedResponse(encoded, None)
    return EncodedResponse(b"".join([encoded, *chunks]), len(encoded))


def _header_length(value: str, body_length: int) -> int:
    if not value.isdigit() or int(value) > body_length:
        raise BadRequest(f"{HEADER_LENGTH} must be a length within the body's {body_length} bytes, got {value!r}")
    return int(value)


def _binary_size(tensor: RequestInput) -> int | None:
    size = tensor.parameters.get(BINARY_DATA_SIZE)
    if size is None:
        if tensor.data is None:
            raise BadRequest(f"input {tensor.name!r} has neither data nor {BINARY_DATA_SIZE}")
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadRequest(f"input {tensor.name!r}: {BINARY_DATA_SIZE} must be a byte count, got {size!r}")
    if tensor.data is not None:
        raise BadRequest(f"input {tensor.name!r} has both data and {BINARY_DATA_SIZE}")
    return size


def _length_prefixed(name: str, data: bytes | memoryview) -> Iterator[bytes]:
    offset = 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise BadRequest(f"input {name!r}: binary BYTES data ends inside an element's 4-byte length")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise BadRequest(f"input {name!r}: an element says {length} bytes; its binary data ends before")
        yield bytes(data[offset : offset + length])
        offset += length


def _flat(data: list[Any]) -> Iterator[Any]:
    """Elements in row-major order, from the nested or the flat form (the protocol allows both)."""
    for element in data:
        if isinstance(element, list):
            yield from _flat(element)
        else:
            yield element


def _base64(name: str, element: Any) -> bytes:
    if not isinstance(element, str):
        raise BadRequest(f"input {name!r}: a BYTES element in JSON is a base64 string, got {type(element).__name__}")
    try:
        return base64.b64decode(element, validate=True)
    except binascii.Error:
        raise BadRequest(f"input {name!r}: a BYTES element in JSON must be base64 (photo bytes are no text)") from None


def _flag(parameters: Parameters, key: str, owner: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{owner}: {key} must be true or false, got {value!r}")
    return value


def _binary(tensor: OutputTensor) -> bytes:
    if isinstance(tensor.values, np.ndarray):
        return tensor.values.astype("<f4", copy=False).tobytes()
    return b"".join(_LENGTH.pack(len(element)) + element for element in tensor.values)


def _json_data(tensor: OutputTensor) -> list[Any]:
    if isinstance(tensor.values, np.ndarray):
        values: list[Any] = tensor.values.ravel().tolist()
        return values
    return [element.decode() for element in tensor.values]


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )
