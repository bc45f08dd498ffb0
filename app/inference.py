"""Inference backends for the digit network: plain NumPy in, logits out.

A backend is not thread-safe; the caller serializes calls (see app/batching.py).
`create_digit_backend` tries the paths in order of speed as `python -m bench.backends`
measured them (docs/PERFORMANCE.md): ONNX Runtime, then a `paddle.inference` predictor
with oneDNN, both built at start-up from a `paddle.jit.save` export of the verified
parameters. The first whose answers on a probe batch match dygraph's is served; if none
does (or its packages are missing), dygraph itself, and the card says why.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from models.artifacts import PARAMS_NAME, LoadedModel
from models.features import IMAGE_SIZE, scale_pixels, softmax

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


class OnnxRuntimeBackend:
    """An ONNX Runtime session (CPU, `threads` intra-op threads) over the export converted by paddle2onnx."""

    name = "onnxruntime"

    def __init__(self, onnx_model: bytes, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        # Idle pool threads would spin on the cores the event loop needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.onnx_model = onnx_model  # the upload child processes build their own session from it
        self._session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.version = str(ort.__version__)

    def predict_logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.asarray(self._session.run(None, {self._input: x})[0], dtype=np.float32)


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


def to_onnx(prefix: Path) -> bytes:
    """paddle2onnx of a `jit.save` export, in memory; its C++ part prints to fd 1, silenced here."""
    import paddle2onnx

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        model = paddle2onnx.export(f"{prefix}.json", f"{prefix}.pdiparams", None, verbose=False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    if not isinstance(model, bytes) or not model:
        raise RuntimeError("paddle2onnx returned no model")
    return model


def build_onnxruntime(prefix: Path, threads: int) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(to_onnx(prefix), threads)


def build_predictor(prefix: Path, threads: int) -> PredictorBackend:
    return PredictorBackend(prefix, threads)


# Fastest first (docs/PERFORMANCE.md); each is built from the same export and checked before use.
CANDIDATES: dict[str, Callable[[Path, int], DigitBackend]] = {
    "onnxruntime": build_onnxruntime,
    "paddle.inference (oneDNN)": build_predictor,
}
DERIVATIONS = {
    "onnxruntime": "paddle.jit.save, then paddle2onnx to ONNX in memory, run by ONNX Runtime",
    "paddle.inference (oneDNN)": "paddle.jit.save, run by a paddle.inference predictor with oneDNN",
}


def probe_batch() -> npt.NDArray[np.float32]:
    """A fixed (8, 1, 28, 28) input in the network's scaled-pixel range, from a seeded generator."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(PROBE_BATCH, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)
    half = pixels[: PROBE_BATCH // 2]
    pixels[: PROBE_BATCH // 2] = np.where(half > 200, half, 0)  # sparse strokes, like real digits
    return scale_pixels(pixels)


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


def serving_facts(backend: str, threads: int, loaded: LoadedModel, check: dict[str, Any]) -> dict[str, Any]:
    """What the card view shows under "serving": the backend and how it was derived."""
    source = f"{PARAMS_NAME} (sha256 {loaded.card['files'][PARAMS_NAME]})"
    if backend == "dygraph":
        return {
            "backend": backend,
            "threads": None,
            "derived_from": f"{source}, dygraph eval mode",
            "check": check,
        }
    derived = (
        f"the network rebuilt from the card with {source}; {DERIVATIONS[backend]}; "
        "at start-up, in a temporary directory deleted once built"
    )
    return {"backend": backend, "threads": threads, "derived_from": derived, "check": check}


def acceptable(check: dict[str, Any]) -> bool:
    """Same answers as dygraph: probabilities within the tolerance, same classes, batching changes nothing."""
    return bool(
        check["max_probability_diff"] <= ANSWER_TOLERANCE
        and check["same_classes"]
        and check["batch_equals_single"]
    )


def first_acceptable(
    loaded: LoadedModel, threads: int, reference: DigitBackend
) -> tuple[str, DigitBackend, dict[str, Any], dict[str, Any]]:
    """(name, backend, its check, why each faster one was passed over); raises if none is acceptable."""
    temperature = loaded.temperature
    passed_over: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="paddle-serve-export-") as tmp:
        prefix = export_network(fresh_copy(loaded), Path(tmp))
        for name, build in CANDIDATES.items():
            try:
                backend = build(prefix, threads)
                check = answer_difference(backend, reference, probe_batch(), temperature)
            except Exception as exc:  # a missing package or a failed conversion: try the next
                passed_over[name] = f"{type(exc).__name__}: {exc}"
                continue
            if acceptable(check):
                return name, backend, check, passed_over
            passed_over[name] = {"rejected": check}
    raise RuntimeError(f"no backend matches dygraph: {passed_over}")


def create_digit_backend(loaded: LoadedModel, threads: int = 1) -> tuple[DigitBackend, dict[str, Any]]:
    """The fastest backend that gives the same answers as dygraph (see docs/PERFORMANCE.md), and what
    the card view shows beside the card under "serving": the choice and why.

    Never raises for a backend problem: dygraph is always right, only slower.
    """
    dygraph = DygraphBackend(loaded)
    try:
        name, backend, check, passed_over = first_acceptable(loaded, threads, dygraph)
    except Exception as exc:  # even the export failed (e.g. no writable temporary directory)
        logger.warning("no faster digit backend (%s); serving dygraph", exc)
        return dygraph, serving_facts("dygraph", threads, loaded, {"fallback_reason": str(exc)})
    serving = serving_facts(name, threads, loaded, check)
    if passed_over:
        serving["passed_over"] = passed_over
        logger.warning("digit backend: passed over %s", passed_over)
    logger.info("digit backend: %s, %d thread(s), check %s", name, threads, check)
    return backend, serving
