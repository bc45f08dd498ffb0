"""Digits: upload bytes -> MNIST form -> scaled input; logits -> calibrated answer."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.predictors.preprocess import decode_image, set_pixel_limit, to_mnist
from models.artifacts import LoadedModel
from models.features import scale_pixels

Observe = Callable[[str, float], None]


@dataclass(frozen=True)
class Prepared:
    """One upload in MNIST form: the 28x28 uint8 the network sees and its scaled input (1, 1, 28, 28)."""

    pixels: npt.NDArray[np.uint8]
    x: npt.NDArray[np.float32]


def png_base64(pixels: npt.NDArray[np.uint8]) -> str:
    """A 28x28 uint8 image as a base64 PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class DigitPredictor:
    """Turns uploads into network input and logits into answers; inference itself runs elsewhere."""

    def __init__(self, loaded: LoadedModel, max_pixels: int) -> None:
        self.temperature = float(loaded.card.get("calibration", {}).get("temperature", 1.0))
        self.model = {"name": loaded.name, "version": loaded.version}
        self.max_pixels = max_pixels
        set_pixel_limit(max_pixels)

    def prepare(self, data: bytes, observe: Observe | None = None) -> Prepared:
        """Decode and bring to MNIST form; raises the client errors of `preprocess`."""
        t0 = time.perf_counter()
        grey = decode_image(data, self.max_pixels)
        t1 = time.perf_counter()
        pixels = to_mnist(grey)
        x = scale_pixels(pixels[None])
        if observe is not None:
            observe("decode", t1 - t0)
            observe("preprocess", time.perf_counter() - t1)
        return Prepared(pixels, x)

    def probabilities(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """(N, 10) logits -> softmax(logits / T) in float64, rows summing to 1."""
        z = logits.astype(np.float64) / self.temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float64)

    def answer(self, probs: npt.NDArray[np.float64], prepared: Prepared, debug: bool) -> dict[str, Any]:
        """One answer dict from one row of probabilities."""
        order = np.argsort(-probs, kind="stable")
        values = probs.tolist()
        return {
            "digit": int(order[0]),
            "confidence": values[int(order[0])],
            "probabilities": values,
            "top": [{"digit": int(d), "probability": values[int(d)]} for d in order[:3]],
            "model": self.model,
            "input_image": png_base64(prepared.pixels) if debug else None,
        }
