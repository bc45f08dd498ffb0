"""The digit inference backend: same answers as dygraph, batched or not, called again and again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import pytest

from app import inference
from app.inference import (
    DygraphBackend,
    OnnxRuntimeBackend,
    PredictorBackend,
    create_digit_backend,
)
from models.artifacts import LoadedModel, load_model, write_model_folder
from models.features import softmax
from models.networks import DigitNet

KWARGS: dict[str, Any] = {"channels": [4, 8], "hidden": 16, "dropout": 0.5}
try:
    import onnxruntime  # noqa: F401
    import paddle2onnx  # noqa: F401

    HAS_ONNX = True
except ImportError:
    HAS_ONNX = False
FASTEST = "onnxruntime" if HAS_ONNX else "paddle.inference (oneDNN)"


def write_fixture(folder: Path) -> None:
    """A tiny seeded DigitNet with non-trivial BatchNorm statistics, written as a model folder."""
    paddle.seed(7)
    network = DigitNet(**KWARGS)
    rng = np.random.default_rng(7)
    for name, value in network.state_dict().items():
        if name.endswith("_mean"):
            value.set_value(rng.normal(0, 0.2, value.shape).astype("float32"))
        elif name.endswith("_variance"):
            value.set_value(rng.uniform(0.5, 2.0, value.shape).astype("float32"))
    card = {"name": "mnist", "version": "0.0.1", "network": {"class": "DigitNet", "kwargs": KWARGS}}
    write_model_folder(folder, network, card)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fixture(folder)
    return folder


@pytest.fixture()
def loaded(model_dir: Path) -> LoadedModel:
    return load_model(model_dir)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 1, 28, 28)).astype(np.float32)


def only(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave one candidate in the list, so each backend is tested on its own."""
    if name == "onnxruntime" and not HAS_ONNX:
        pytest.skip("onnxruntime or paddle2onnx not installed")
    monkeypatch.setattr(inference, "CANDIDATES", {name: inference.CANDIDATES[name]})


@pytest.fixture(params=["onnxruntime", "paddle.inference (oneDNN)"])
def backend_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    only(request.param, monkeypatch)
    return str(request.param)


def test_fastest_installed_backend_is_chosen(loaded: LoadedModel) -> None:
    backend, serving = create_digit_backend(loaded)
    assert isinstance(backend, OnnxRuntimeBackend if HAS_ONNX else PredictorBackend)
    assert serving["backend"] == FASTEST
    assert "passed_over" not in serving


def test_backend_matches_dygraph(loaded: LoadedModel, backend_name: str) -> None:
    backend, serving = create_digit_backend(loaded, threads=1)
    assert serving["backend"] == backend_name
    x = images(16)
    got = backend.predict_logits(x)
    want = DygraphBackend(loaded).predict_logits(x)
    assert got.shape == (16, 10) and got.dtype == np.float32
    assert np.max(np.abs(softmax(got) - softmax(want))) <= 1e-5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_card_records_the_backend_and_its_source(loaded: LoadedModel, backend_name: str) -> None:
    card = dict(loaded.card)
    _, serving = create_digit_backend(loaded, threads=2)
    assert loaded.card == card  # the card stays the verified file: serving facts sit beside it
    assert serving["backend"] == backend_name
    assert serving["threads"] == 2
    assert loaded.card["files"]["model.pdparams"] in serving["derived_from"]
    assert serving["check"]["same_classes"] is True
    assert serving["check"]["batch_equals_single"] is True
    assert serving["check"]["max_probability_diff"] <= 1e-5


def test_batch_answers_equal_single_answers(loaded: LoadedModel, backend_name: str) -> None:
    backend, _ = create_digit_backend(loaded)
    x = images(9, seed=3)
    batched = backend.predict_logits(x)
    singles = np.concatenate([backend.predict_logits(x[i : i + 1]) for i in range(9)])
    assert np.array_equal(batched, singles)
    pieces = np.concatenate([backend.predict_logits(x[:4]), backend.predict_logits(x[4:])])
    assert np.array_equal(batched, pieces)


def test_repeated_calls_from_another_thread_are_stable(loaded: LoadedModel, backend_name: str) -> None:
    backend, _ = create_digit_backend(loaded)
    x = images(5, seed=4)
    first = backend.predict_logits(x)
    results: list[np.ndarray] = []

    def work() -> None:  # the service calls the backend from one inference thread
        for n in (1, 5, 3, 5, 2, 5):
            results.append(backend.predict_logits(x[:n]))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert [r.shape[0] for r in results] == [1, 5, 3, 5, 2, 5]
    for r in results:
        assert np.array_equal(r, first[: r.shape[0]])


def test_served_dygraph_network_is_left_untouched(loaded: LoadedModel) -> None:
    x = images(3, seed=5)
    before = DygraphBackend(loaded).predict_logits(x)
    create_digit_backend(loaded)
    assert np.array_equal(DygraphBackend(loaded).predict_logits(x), before)
    assert not loaded.network.training


def test_export_failure_falls_back_to_dygraph(loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(inference, "export_network", broken)
    backend, serving = create_digit_backend(loaded)
    assert isinstance(backend, DygraphBackend)
    assert serving["backend"] == "dygraph"
    assert "read-only" in serving["check"]["fallback_reason"]


def test_disagreeing_backends_are_rejected(loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    real = inference.answer_difference

    def skewed(*args: Any) -> dict[str, Any]:
        return {**real(*args), "max_probability_diff": 0.5}

    monkeypatch.setattr(inference, "answer_difference", skewed)
    backend, serving = create_digit_backend(loaded)
    assert isinstance(backend, DygraphBackend)
    assert serving["backend"] == "dygraph"
    assert "no backend matches dygraph" in serving["check"]["fallback_reason"]


def test_a_failing_candidate_is_passed_over(loaded: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*_: object) -> None:
        raise ModuleNotFoundError("No module named 'onnxruntime'")

    candidates = {"onnxruntime": missing, "paddle.inference (oneDNN)": inference.build_predictor}
    monkeypatch.setattr(inference, "CANDIDATES", candidates)
    backend, serving = create_digit_backend(loaded)
    assert isinstance(backend, PredictorBackend)
    assert "No module named" in serving["passed_over"]["onnxruntime"]


def test_probe_batch_is_deterministic_and_in_range() -> None:
    a, b = inference.probe_batch(), inference.probe_batch()
    assert a.shape == (8, 1, 28, 28) and np.array_equal(a, b)
    assert a.min() == pytest.approx((0 - 0.1307) / 0.3081, abs=1e-5)
