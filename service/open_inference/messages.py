"""The protocol's JSON objects, as its REST specification names them: parsed with these, and documented in
OpenAPI by them (github.com/kserve/open-inference-protocol, specification/protocol/inference_rest.md)."""

from typing import Any

from pydantic import BaseModel, Field

# Strict types: a parameter's JSON type is part of what a client meant (true, not "true").
Parameters = dict[str, bool | int | float | str]


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters = Field(default_factory=dict)
    data: list[Any] | None = Field(None, description="The elements in JSON; absent when sent as binary data.")


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: Parameters = Field(default_factory=dict)
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = Field(
        None, description="The outputs wanted; absent: probabilities and label."
    )


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a dimension of variable size.")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ErrorResponse(BaseModel):
    error: str


def inference_request_schema() -> dict[str, Any]:
    """The request's JSON schema with its nested objects written out in place: OpenAPI documents a body that
    FastAPI does not parse (the binary extension puts raw bytes after the JSON) only as one schema, where
    pydantic's ``$defs`` would point nowhere."""
    schema = InferenceRequest.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined
