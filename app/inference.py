"""Inference backends for the digit network: plain NumPy in, logits out.

A backend is not thread-safe; the caller serializes calls (see app/batching.py).
`create_digit_backend` picks the fastest path that gives dygraph's answers, measured by
`python -m bench.backends` (see docs/PERFORMANCE.md): a `paddle.inference` predictor with
oneDNN on a `paddle.jit.save` export of the verified parameters, checked at start-up
against dygraph on a probe batch; on any failure it falls back to dygraph and says why.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from models.artifacts import PARAMS_NAME, LoadedModel
from models.features import IMAGE_SIZE

if TYPE_CHECKING:
    from paddle import nn

logger = logging.getLogger(__name__)

# The served answer is softmax(logits / T); backends must agree with dygraph within this.
ANSWER_TOLERANCE = 1e-5
PROBE_BATCH = 8
INPUT_SHAPE = [None, 1, IMAGE_SIZE, IMAGE_SIZE]


class DigitBackend(Protocol):
    """Runs the digit network on a batch."""

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, 1, 28, 28) scaled pixels -> (N, 10) logits, float32."""
        ...


class DygraphBackend:
    """The network as loaded, in eval mode, under `paddle.no_grad`."""

    name = "dygraph"

    def __init__(self, loaded: LoadedModel) -> None:
        self._network = loaded.network

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import paddle

        with paddle.no_grad():
            out = self._network(paddle.to_tensor(x))
        return np.asarray(out.numpy(), dtype=np.float32)


class PredictorBackend:
    """A `paddle.inference` predictor (oneDNN on, `threads` math threads) over a `jit.save` export.

    The predictor reads the export's two files when built; they may be deleted afterwards.
    """

    name = "paddle.inference"

    def __init__(self, prefix: Path, threads: int = 1) -> None:
        import paddle.inference as inference

        config = inference.Config(f"{prefix}.json", f"{prefix}.pdiparams")
        config.disable_glog_info()
        config.enable_onednn()
        # Never enable_memory_optim(): it breaks every saved model in Paddle 3.3.1.
        config.set_cpu_math_library_num_threads(max(1, threads))
        self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x = np.ascontiguousarray(x, dtype=np.float32)  # no copy when it already is
        self._input.reshape(list(x.shape))
        self._input.copy_from_cpu(x)
        self._predictor.run()
        return np.asarray(self._output.copy_to_cpu(), dtype=np.float32)


def fresh_copy(loaded: LoadedModel) -> nn.Layer:
    """A new network built from the card and given the loaded (hash-checked) parameters, in eval mode.

    Exporting a copy leaves the served dygraph network untouched by `jit.save`'s conversion.
    """
    from models.networks import build_network

    spec = loaded.card["network"]
    network = build_network(spec["class"], dict(spec.get("kwargs", {})))
    network.set_state_dict(loaded.network.state_dict())
    network.eval()
    return network


def export_network(network: nn.Layer, folder: Path) -> Path:
    """`paddle.jit.save` with a variable batch size; returns the prefix of `.json` + `.pdiparams`."""
    import paddle

    prefix = folder / "inference"
    spec = [paddle.static.InputSpec(INPUT_SHAPE, "float32", "x")]
    paddle.jit.save(network, str(prefix), input_spec=spec)
    return prefix


def probe_batch() -> npt.NDArray[np.float32]:
    """A fixed (8, 1, 28, 28) input in the network's scaled-pixel range, from a seeded generator."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(PROBE_BATCH, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)
    pixels[: PROBE_BATCH // 2] = np.where(pixels[: PROBE_BATCH // 2] > 200, pixels[: PROBE_BATCH // 2], 0)
    from models.features import scale_pixels

    return scale_pixels(pixels)


def softmax(logits: npt.NDArray[np.float32], temperature: float = 1.0) -> npt.NDArray[np.float32]:
    z = logits / np.float32(temperature)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float32)


def answer_difference(
    candidate: DigitBackend, reference: DigitBackend, x: npt.NDArray[np.float32], temperature: float = 1.0
) -> dict[str, Any]:
    """How far `candidate`'s answers (softmax(logits / T)) are from `reference`'s, batched and one by one."""
    expected = reference.predict_logits(x)
    batched = candidate.predict_logits(x)
    singles = np.concatenate([candidate.predict_logits(x[i : i + 1]) for i in range(len(x))])
    probability_diff = np.abs(softmax(batched, temperature) - softmax(expected, temperature))
    return {
        "probe_batch": len(x),
        "max_logit_diff": float(np.max(np.abs(batched - expected))),
        "max_probability_diff": float(np.max(probability_diff)),
        "same_classes": bool(np.array_equal(batched.argmax(axis=1), expected.argmax(axis=1))),
        "batch_equals_single": bool(np.array_equal(batched, singles)),
    }


def build_predictor(loaded: LoadedModel, threads: int) -> PredictorBackend:
    """Export a fresh copy of the loaded network into a temporary directory and build the predictor."""
    with tempfile.TemporaryDirectory(prefix="paddle-serve-export-") as tmp:
        prefix = export_network(fresh_copy(loaded), Path(tmp))
        return PredictorBackend(prefix, threads)


def describe(backend: str, threads: int, loaded: LoadedModel, check: dict[str, Any]) -> dict[str, Any]:
    """What the card view shows under "serving": the backend and how it was derived."""
    derived = (
        f"paddle.jit.save of the network rebuilt from the card with {PARAMS_NAME} "
        f"(sha256 {loaded.card['files'][PARAMS_NAME]}), at start-up, into a temporary directory"
    )
    return {
        "backend": backend,
        "threads": threads if backend != "dygraph" else None,
        "derived_from": derived if backend != "dygraph" else f"{PARAMS_NAME}, dygraph eval mode",
        "check": check,
    }


def create_digit_backend(loaded: LoadedModel, threads: int = 1) -> DigitBackend:
    """The fastest backend that gives the same answers as dygraph (see docs/PERFORMANCE.md).

    Records the choice in `loaded.card["serving"]` (the card view shows it).
    """
    dygraph = DygraphBackend(loaded)
    try:
        predictor = build_predictor(loaded, threads)
        temperature = float(loaded.card.get("calibration", {}).get("temperature", 1.0))
        check = answer_difference(predictor, dygraph, probe_batch(), temperature)
    except Exception as exc:  # any export or predictor failure: serve dygraph, never fail start-up
        logger.warning("paddle.inference backend unavailable (%s); serving dygraph", exc)
        loaded.card["serving"] = describe("dygraph", threads, loaded, {"fallback_reason": str(exc)})
        return dygraph
    ok = (
        check["max_probability_diff"] <= ANSWER_TOLERANCE
        and check["same_classes"]
        and check["batch_equals_single"]
    )
    if not ok:
        logger.warning("paddle.inference backend disagrees with dygraph (%s); serving dygraph", check)
        loaded.card["serving"] = describe("dygraph", threads, loaded, {"rejected": check})
        return dygraph
    name = f"{PredictorBackend.name} (oneDNN)"
    loaded.card["serving"] = describe(name, threads, loaded, check)
    logger.info("digit backend: %s, %d thread(s), check %s", name, threads, check)
    return predictor
