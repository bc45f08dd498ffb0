"""MLServer custom runtimes serving the same two networks, for bench/bench.py to compare against.

Runs inside MLServer's own virtual environment (MLServer pins an older FastAPI; no paddle there):
`bench.mlserver_models` exports, from the committed model folders, what these runtimes load, and
they call the service's own code: `app.predictors.preprocess.prepare_upload`, `scale_pixels`, an
ONNX Runtime session built as `app.inference.OnnxRuntimeBackend` builds it, `models.features`'
softmax and min/max scaling. The comparison is of the serving machinery, not of the work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mlserver import MLModel
from mlserver.codecs import Base64Codec, NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput

from app.inference import OnnxRuntimeBackend
from app.predictors.preprocess import prepare_upload
from models.features import MinMaxScaling, scale_pixels, softmax

MAX_PIXELS = 40_000_000


def _folder(model: MLModel) -> Path:
    uri = model.settings.parameters.uri if model.settings.parameters else None
    return Path(str(uri))


class BostonRuntime(MLModel):
    """`features` FP64 (N, 13) -> `price` FP64 (N, 1): min/max scaling, x @ W + b, target unscaled."""

    async def load(self) -> bool:
        data = np.load(_folder(self) / "boston.npz")
        self.weight, self.bias = data["weight"].astype(np.float64), float(data["bias"])
        self.scaling = MinMaxScaling(tuple(data["minimum"].tolist()), tuple(data["maximum"].tolist()))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float64).reshape(-1, 13)
        y = self.scaling.scale(x) @ self.weight + self.bias  # (N, 1), scaled MEDV
        price = self.scaling.unscale_target(y)
        return InferenceResponse(
            model_name=self.name, outputs=[NumpyCodec.encode_output("price", price)], id=payload.id
        )


class MnistRuntime(MLModel):
    """`image` BYTES (encoded files) or `pixels` UINT8 (N, 28, 28) -> `probabilities`, `digit`."""

    async def load(self) -> bool:
        folder = _folder(self)
        self.backend = OnnxRuntimeBackend((folder / "mnist.onnx").read_bytes(), 1)
        self.temperature = float(json.loads((folder / "mnist.json").read_text())["temperature"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        tensor = payload.inputs[0]
        if tensor.name == "image":  # MLServer's REST takes JSON only: the files come base64-encoded
            files = Base64Codec.decode_input(tensor)
            forms = np.stack([prepare_upload(bytes(f), MAX_PIXELS)[0] for f in files])
        else:
            forms = NumpyCodec.decode_input(tensor).astype(np.uint8).reshape(-1, 28, 28)
        probs = softmax(self.backend.predict_logits(scale_pixels(forms)), self.temperature)
        outputs: list[ResponseOutput] = [
            NumpyCodec.encode_output("probabilities", probs.astype(np.float32)),
            NumpyCodec.encode_output("digit", probs.argmax(axis=1).astype(np.int64)),
        ]
        return InferenceResponse(model_name=self.name, outputs=outputs, id=payload.id)
