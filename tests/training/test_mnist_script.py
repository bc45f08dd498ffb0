"""The MNIST script end to end in quick mode, augmentation invariants, and the committed folder."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from models import MODELS_DIR
from models.artifacts import HashMismatchError, load_model
from models.features import scale_pixels
from training import mnist
from training.augment import AugmentConfig, augment_batch, random_affine, sampling_grid
from training.datasets import load_mnist
from training.evaluate import mnist_forms, served_probabilities
from training.fetch import MNIST_SOURCE
from training.photos import EFFECTS, STYLE_CLASSES


def test_quick_run_writes_a_loadable_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ["--epochs", "1", "--limit", "256", "--batch-size", "64", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["training.mnist", *args])
    mnist.main()
    assert "test accuracy" in capsys.readouterr().out
    card = load_model(tmp_path).card
    assert sorted(card["files"]) == ["confusion.png", "curves.png", "model.pdparams"]
    assert card["command"] == "python -m training.mnist " + " ".join(args)
    assert card["data"]["sha256"] == MNIST_SOURCE.sha256
    metrics = card["metrics"]
    assert np.asarray(metrics["confusion_matrix"]).sum() == 256
    assert metrics["subset_accuracy"]["first"] == 256 and len(metrics["per_class_accuracy"]) == 10
    assert card["calibration"]["temperature"] > 0 and len(card["epoch_times_s"]) == 1
    uploads = metrics["upload_benchmark"]["classes"]
    assert set(uploads) == {*EFFECTS, *STYLE_CLASSES, "overall"}
    assert uploads["overall"]["n"] == 2 * (len(EFFECTS) + len(STYLE_CLASSES))
    (tmp_path / "curves.png").write_bytes(b"tampered")
    with pytest.raises(HashMismatchError, match=r"curves\.png"):
        load_model(tmp_path)


def test_numpy_grid_equals_affine_grid() -> None:
    theta = random_affine(8, AugmentConfig(), np.random.default_rng(0))
    expected = paddle.nn.functional.affine_grid(paddle.to_tensor(theta), [8, 1, 28, 28], align_corners=False)
    np.testing.assert_allclose(sampling_grid(theta), expected.numpy(), atol=1e-6)


def test_identity_augmentation_keeps_the_digit() -> None:
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, 8:20, 12:16] = 255  # a bar
    x = paddle.to_tensor(scale_pixels(images))
    still = AugmentConfig(0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    same = augment_batch(x, still, np.random.default_rng(0))
    np.testing.assert_allclose(same.numpy(), x.numpy(), atol=1e-5)
    bold = augment_batch(x, AugmentConfig(0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0), np.random.default_rng(0))
    assert (bold.numpy() > 0).sum() > (x.numpy() > 0).sum()  # every stroke grew


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG")
    return buffer.getvalue()


def test_committed_mnist_folder_reproduces_subset_accuracy() -> None:
    loaded = load_model(MODELS_DIR / "mnist")
    card = loaded.card
    assert card["command"] == "python -m training.mnist"
    subset = card["metrics"]["subset_accuracy"]
    data = load_mnist()
    n = subset["first"]
    served, ok = mnist_forms([png(d) for d in data.x_test[:n]])  # as the service prepares each PNG
    assert all(ok)
    temperature = card["calibration"]["temperature"]
    answers = served_probabilities(loaded.network, served, temperature, card["metrics"]["eval_batch_size"])
    assert float((answers.argmax(axis=1) == data.y_test[:n]).mean()) == subset["accuracy"]
    assert card["metrics"]["test_accuracy"] >= 0.99
