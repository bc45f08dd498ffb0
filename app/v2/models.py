"""The two models as Open Inference Protocol models: their tensors, and inference through their pipelines.

`boston`: input `features` FP64 or FP32 [-1, 13] (raw values, CRIM..LSTAT) -> output `price` FP64
[-1, 1] in $1000s. `mnist`: input `image` BYTES [-1] (encoded files, brought to MNIST form as
/predict/digit does) or `pixels` UINT8 [-1, 28, 28] (already in MNIST form) -> outputs
`probabilities` FP32 [-1, 10] (calibrated) and `digit` INT64 [-1]. Both call the pipelines that
/predict/* call, so the answers are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import InvalidInput
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.v2.schemas import RequestInput, TensorMetadata
from app.v2.tensors import Tensor
from models.features import BOSTON_FEATURES, IMAGE_SIZE

Arrays = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class Signature:
    """A model's tensors as `GET /v2/models/{name}` shows them; `accepts` lists extra input datatypes."""

    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    accepts: dict[str, tuple[str, ...]]

    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]


BOSTON = Signature(
    inputs=(TensorMetadata(name="features", datatype="FP64", shape=[-1, len(BOSTON_FEATURES)]),),
    outputs=(TensorMetadata(name="price", datatype="FP64", shape=[-1, 1]),),
    accepts={"features": ("FP64", "FP32")},
)
MNIST = Signature(
    inputs=(
        TensorMetadata(name="image", datatype="BYTES", shape=[-1]),
        TensorMetadata(name="pixels", datatype="UINT8", shape=[-1, IMAGE_SIZE, IMAGE_SIZE]),
    ),
    outputs=(
        TensorMetadata(name="probabilities", datatype="FP32", shape=[-1, 10]),
        TensorMetadata(name="digit", datatype="INT64", shape=[-1]),
    ),
    accepts={"image": ("BYTES",), "pixels": ("UINT8",)},
)
SIGNATURES = {"boston": BOSTON, "mnist": MNIST}


def check_input(model: str, inputs: list[RequestInput], limit: int) -> None:
    """The request has one input that fits the model's signature (name, datatype, shape, rows)."""
    signature = SIGNATURES[model]
    names = ", ".join(repr(t.name) for t in signature.inputs)
    if len(inputs) != 1:
        raise InvalidInput(f"model {model!r} takes exactly one input ({names}), got {len(inputs)}")
    tensor = inputs[0]
    spec = next((t for t in signature.inputs if t.name == tensor.name), None)
    if spec is None:
        raise InvalidInput(f"unknown input {tensor.name!r}; model {model!r} takes {names}")
    if tensor.datatype not in signature.accepts[spec.name]:
        accepted = " or ".join(signature.accepts[spec.name])
        raise InvalidInput(f"input {tensor.name!r}: datatype {tensor.datatype}, expected {accepted}")
    shape = tensor.shape
    if len(shape) != len(spec.shape) or any(e not in (-1, s) for s, e in zip(shape, spec.shape, strict=True)):
        raise InvalidInput(f"input {tensor.name!r}: shape {shape}, expected {spec.shape}")
    if not 1 <= shape[0] <= limit:
        raise InvalidInput(f"input {tensor.name!r}: {shape[0]} rows; send 1 to {limit} (the limit)")


def infer_price(pipeline: PricePipeline, tensor: Tensor) -> Arrays:
    """`features` rows -> `price` (N, 1) FP64, checked as /predict/price checks its features."""
    rows = np.asarray(tensor.array, np.float64).tolist()
    return {"price": np.asarray(pipeline.prices(rows, tensor.name), np.float64).reshape(-1, 1)}


async def infer_digit(pipeline: DigitPipeline, tensor: Tensor) -> Arrays:
    """`image` files or `pixels` in MNIST form -> `probabilities` (N, 10) FP32 and `digit` (N,) INT64."""
    if tensor.name == "image":
        _, probs = await pipeline.probabilities(list(tensor.array.reshape(-1)), tensor.name)
    else:
        probs = await pipeline.probabilities_of_forms(np.ascontiguousarray(tensor.array, np.uint8))
    return {"probabilities": probs.astype(np.float32), "digit": probs.argmax(axis=1).astype(np.int64)}
