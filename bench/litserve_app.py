"""LitServe serving the same networks with its own batching, for the benchmark to compare against.

Given the service's own preprocessing and inference paths (NumPy for prices; for digits the
preprocessing of app/predictors/preprocess.py and the backend of app/inference.py), so that the
comparison is of the serving machinery, not of the work per request.
    BENCH_MODELS_DIR=models python -m bench.litserve_app --port 8002
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

import litserve as ls
import numpy as np

from app.predictors.preprocess import prepare_upload
from models.features import BOSTON_FEATURES, scale_pixels

warnings.filterwarnings("ignore", message="No ccache found")


def models_dir() -> Path:
    return Path(os.environ.get("BENCH_MODELS_DIR", "models"))


class PriceAPI(ls.LitAPI):
    """x @ W + b on min/max-scaled features, then the target scaling undone."""

    def setup(self, device: str) -> None:
        from models.artifacts import load_model

        model = load_model(models_dir() / "boston")
        norm = model.card["normalization"]
        self.lo, self.hi = np.asarray(norm["min"], np.float32), np.asarray(norm["max"], np.float32)
        self.weight = model.network.fc.weight.numpy()
        self.bias = model.network.fc.bias.numpy()

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # unannotated: LitServe passes the JSON
        x = np.asarray([float(request[n]) for n in BOSTON_FEATURES], np.float32)
        return (x - self.lo[:-1]) / (self.hi[:-1] - self.lo[:-1])

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (x @ self.weight + self.bias)[:, 0] * (self.hi[-1] - self.lo[-1]) + self.lo[-1]

    def unbatch(self, output: np.ndarray) -> list[float]:
        return [float(y) for y in output]

    def encode_response(self, output: float) -> dict[str, float]:
        return {"price": output}


class DigitAPI(ls.LitAPI):
    """Decode the upload, batch, run the service's digit backend, softmax."""

    def setup(self, device: str) -> None:
        from app.inference import create_digit_backend
        from models.artifacts import load_model

        self.backend, _facts = create_digit_backend(load_model(models_dir() / "mnist"), threads=1)

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # unannotated: LitServe passes the form
        data = request["file"].file.read()
        return scale_pixels(prepare_upload(data, 40_000_000)[0][None])[0]

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = self.backend.predict_logits(x)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, p: np.ndarray) -> dict[str, Any]:
        return {"digit": int(p.argmax()), "confidence": float(p.max()), "probabilities": p.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout", type=float, default=0.002, help="seconds")
    args = parser.parse_args()
    apis = [
        PriceAPI(
            api_path="/predict/price", max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout
        ),
        DigitAPI(
            api_path="/predict/digit", max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout
        ),
    ]
    # fast_queue: ZeroMQ between the API server and the workers, "for high-throughput scenarios
    # (>100 RPS)" in LitServer's documentation.
    server = ls.LitServer(
        apis, accelerator="cpu", devices=1, workers_per_device=1, timeout=30, fast_queue=True
    )
    server.run(
        host="127.0.0.1", port=args.port, num_api_servers=1, log_level="warning", generate_client_file=False
    )


if __name__ == "__main__":
    main()
