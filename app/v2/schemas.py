"""The Open Inference Protocol's REST messages (kserve/open-inference-protocol, inference_rest.md).

These models validate the JSON part of an inference request and document every v2 route in
/openapi.json; the binary extension's parameters are typed fields of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
    "FP64", "BYTES",
]  # fmt: skip
Shape = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=8)]
Name = Annotated[str, Field(min_length=1, max_length=256)]


class InputParameters(BaseModel):
    """An input's parameters; `binary_data_size` says its data follows the JSON (binary extension)."""

    model_config = ConfigDict(extra="allow")
    binary_data_size: Annotated[int, Field(ge=0)] | None = None


class RequestInput(BaseModel):
    """One input tensor: data in JSON (flat or nested, row-major), or in binary after the JSON."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    shape: Shape
    datatype: Datatype
    parameters: InputParameters | None = None
    data: Any = None

    @property
    def binary_data_size(self) -> int | None:
        return self.parameters.binary_data_size if self.parameters is not None else None


class OutputParameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data: bool | None = None


class RequestOutput(BaseModel):
    """An output asked for; `binary_data` puts its data in binary after the response's JSON."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    parameters: OutputParameters | None = None


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data_output: bool | None = None


class InferenceRequest(BaseModel):
    """POST /v2/models/{name}[/versions/{version}]/infer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"id": "1", "inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP64", "data": [
                    0.00632, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98]}]}
            ]
        },
    )  # fmt: skip
    id: Annotated[str, Field(max_length=256)] | None = None
    model_name: Name | None = Field(None, description="sent by some clients (KServe's); must match the path")
    model_version: Name | None = None
    parameters: RequestParameters | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=16)]
    outputs: Annotated[list[RequestOutput], Field(max_length=16)] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(None, description="absent when the output is in binary after the JSON")


class InferenceResponse(BaseModel):
    model_name: str = Field(examples=["boston"])
    model_version: str | None = Field(None, examples=["1.0.0"])
    id: str | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int] = Field(description="-1 for a variable dimension")


class ModelMetadata(BaseModel):
    name: str = Field(examples=["mnist"])
    versions: list[str] = Field(examples=[["2.0.0"]])
    platform: str = Field(examples=["paddle"])
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str = Field(examples=["paddle-serve"])
    version: str = Field(examples=["1.0.0"])
    extensions: list[str] = Field(examples=[["binary_tensor_data"]])


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class V2Error(BaseModel):
    """Every v2 error: the protocol's shape."""

    error: str = Field(examples=["input 'features': shape [1, 12], expected [-1, 13]"])
