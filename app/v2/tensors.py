"""Tensors of the Open Inference Protocol: JSON data and Triton's binary tensor data extension.

A request body is JSON, or (binary extension) `Inference-Header-Content-Length` bytes of JSON
followed by the raw tensors of the inputs that give `binary_data_size`, in input order:
little-endian numbers, and for BYTES each element as a 4-byte little-endian length and its bytes.
A response puts the outputs asked for in binary after its JSON the same way.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import ValidationError

from app.errors import InvalidInput
from app.v2.schemas import InferenceRequest, RequestInput

HEADER_LENGTH = "inference-header-content-length"
NUMERIC = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Tensor:
    """One input as the models take it: a NumPy array (object array of bytes for BYTES)."""

    name: str
    datatype: str
    array: npt.NDArray[Any]


@dataclass(frozen=True)
class Output:
    """One output of an answer, and whether it goes in binary after the JSON."""

    name: str
    datatype: str
    array: npt.NDArray[Any]
    binary: bool


def parse_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """The request's JSON part, validated, and its binary part (empty without the extension)."""
    split = len(body)
    if header_length is not None:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length: {header_length[:20]!r} is not a length within the body"
            )
        split = int(header_length)
    try:
        return InferenceRequest.model_validate(orjson.loads(body[:split])), body[split:]
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request's JSON is not valid ({exc.msg})") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        raise InvalidInput(f"{where}: {error['msg']}") from None


def _elements(shape: list[int]) -> int:
    return math.prod(shape)


def bytes_elements(raw: bytes, count: int, name: str) -> list[bytes]:
    """BYTES binary data -> `count` elements, each a 4-byte little-endian length then its bytes."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"input {name!r}: BYTES data ends inside an element's length")
        (size,) = LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidInput(f"input {name!r}: BYTES element {len(elements)} is cut short")
        elements.append(raw[offset : offset + size])
        offset += size
    if len(elements) != count:
        raise InvalidInput(f"input {name!r}: {len(elements)} BYTES elements for shape of {count}")
    return elements


def _from_binary(spec: RequestInput, raw: bytes) -> npt.NDArray[Any]:
    count = _elements(spec.shape)
    if spec.datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = bytes_elements(raw, count, spec.name)
        return array.reshape(spec.shape)
    dtype = np.dtype(NUMERIC[spec.datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"input {spec.name!r}: {len(raw)} bytes of binary data, but shape {spec.shape} of "
            f"{spec.datatype} needs {count * dtype.itemsize}"
        )
    return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="), copy=False).reshape(spec.shape)


def _from_json(spec: RequestInput) -> npt.NDArray[Any]:
    count = _elements(spec.shape)
    if spec.data is None:
        raise InvalidInput(f"input {spec.name!r}: no data and no binary_data_size")
    flat = _flatten(spec.data)
    if len(flat) != count:
        raise InvalidInput(f"input {spec.name!r}: {len(flat)} values for shape {spec.shape} ({count})")
    if spec.datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = [v.encode() if isinstance(v, str) else _not_bytes(spec.name, v) for v in flat]
        return array.reshape(spec.shape)
    return _numbers(spec, flat).reshape(spec.shape)


def _not_bytes(name: str, value: Any) -> bytes:
    raise InvalidInput(f"input {name!r}: a BYTES element must be a string, got {type(value).__name__}")


def _numbers(spec: RequestInput, flat: list[Any]) -> npt.NDArray[Any]:
    dtype = NUMERIC[spec.datatype]
    kinds = (bool,) if spec.datatype == "BOOL" else (int, float)
    for i, value in enumerate(flat):
        if isinstance(value, bool) != (spec.datatype == "BOOL") or not isinstance(value, kinds):
            raise InvalidInput(f"input {spec.name!r}: element {i} is {value!r}, not a {spec.datatype} value")
    try:
        with np.errstate(over="raise"):
            array: npt.NDArray[Any] = np.asarray(flat, dtype=dtype)
    except (OverflowError, FloatingPointError, ValueError):
        raise InvalidInput(f"input {spec.name!r}: a value does not fit {spec.datatype}") from None
    if np.issubdtype(array.dtype, np.integer) and not np.array_equal(array, np.asarray(flat, dtype=object)):
        raise InvalidInput(f"input {spec.name!r}: a value is not a {spec.datatype} integer")
    return array


def _flatten(data: Any) -> list[Any]:
    """Nested lists (row-major) -> one flat list; a flat list is returned as it is."""
    if not isinstance(data, list):
        return [data]
    if all(not isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        else:
            flat.append(node)
    return flat


def input_tensors(request: InferenceRequest, binary: bytes) -> list[Tensor]:
    """Every input as an array, its binary data taken in input order; leftover binary data is an error."""
    tensors, offset = [], 0
    for spec in request.inputs:
        size = spec.binary_data_size
        if size is None:
            tensors.append(Tensor(spec.name, spec.datatype, _from_json(spec)))
            continue
        if offset + size > len(binary):
            raise InvalidInput(f"input {spec.name!r}: binary_data_size {size} runs past the body")
        tensors.append(Tensor(spec.name, spec.datatype, _from_binary(spec, binary[offset : offset + size])))
        offset += size
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data after the last input's")
    return tensors


def encode_response(head: dict[str, Any], outputs: list[Output]) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary outputs follow it (else None)."""
    entries, chunks = [], []
    for out in outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": list(out.array.shape)}
        if out.binary:
            raw = np.ascontiguousarray(out.array, out.array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = out.array.reshape(-1).tolist()
        entries.append(entry)
    text = orjson.dumps({**head, "outputs": entries})
    if not chunks:
        return text, None
    return b"".join([text, *chunks]), len(text)
