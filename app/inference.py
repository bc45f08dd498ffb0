"""Inference backends for the digit network: plain NumPy in, logits out.

A backend is not thread-safe; the caller serializes calls (see app/batching.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.artifacts import LoadedModel


class DigitBackend(Protocol):
    """Runs the digit network on a batch."""

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, 1, 28, 28) scaled pixels -> (N, 10) logits, float32."""
        ...


class DygraphBackend:
    """The network as loaded, in eval mode, under `paddle.no_grad`."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._network = loaded.network

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import paddle

        with paddle.no_grad():
            out = self._network(paddle.to_tensor(x))
        return np.asarray(out.numpy(), dtype=np.float32)


def create_digit_backend(loaded: LoadedModel, threads: int = 1) -> DigitBackend:
    """The fastest backend that gives the same answers as dygraph (see docs/PERFORMANCE.md)."""
    return DygraphBackend(loaded)
