"""Digits: upload bytes -> MNIST form -> scaled input; logits -> calibrated answer."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.predictors.preprocess import prepare_upload, set_pixel_limit
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
        """Decode and bring to MNIST form here; raises the client errors of `preprocess`."""
        pixels, decode_s, preprocess_s = prepare_upload(data, self.max_pixels)
        if observe is not None:
            observe("decode", decode_s)
            observe("preprocess", preprocess_s)
        return self.from_pixels(pixels)

    @staticmethod
    def from_pixels(pixels: npt.NDArray[np.uint8]) -> Prepared:
        """A 28x28 uint8 image in MNIST form -> what the network takes."""
        return Prepared(pixels, scale_pixels(pixels[None]))

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
