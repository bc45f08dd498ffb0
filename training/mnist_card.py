"""The MNIST card's contents: test metrics before and after calibration, the upload benchmark, the card."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from models.artifacts import library_versions
from models.features import IMAGE_SIZE, pixel_scaling_contract
from models.networks import DigitNet
from training.calibration import (
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
)
from training.common import command_line, utc_timestamp
from training.datasets import Mnist
from training.evaluate import looked_again, predict_logits, predict_uploads, report
from training.mnist_validation import Choice
from training.photos import upload_set
from training.served import PHOTO_EFFECTS, TRAIN_FRAME, Served

if TYPE_CHECKING:  # training.mnist imports this module
    from training.mnist import Config


def test_metrics(net: DigitNet, data: Mnist, val: Served, cfg: Config) -> tuple[dict[str, object], float]:
    """Test metrics before and after temperature scaling (fitted on validation); returns them and T.

    The temperature is fitted on the validation digits both as MNIST and as uploads, so that the
    answers are calibrated on both kinds of input.
    """
    val_logits = predict_logits(net, data.x_val, cfg.eval_batch_size)
    photo_logits = predict_logits(net, val.photo, cfg.eval_batch_size)
    logits = predict_logits(net, data.x_test, cfg.eval_batch_size)
    temperature = fit_temperature(
        np.concatenate([val_logits, photo_logits]), np.concatenate([data.y_val] * 2)
    )
    batch = cfg.eval_batch_size  # the second look reuses the logits above, as the service does
    served = looked_again(net, data.x_test, softmax(logits, temperature), temperature, batch)
    predicted = served.argmax(axis=1)  # what the service answers: with the second look
    val_served = looked_again(net, data.x_val, softmax(val_logits, temperature), temperature, batch)
    matrix = confusion_matrix(data.y_test, predicted)
    n = min(cfg.subset_first, len(data.y_test))
    metrics: dict[str, object] = {
        "test_accuracy": float((predicted == data.y_test).mean()),
        "test_accuracy_network_alone": float((logits.argmax(axis=1) == data.y_test).mean()),
        "val_accuracy": float((val_served.argmax(axis=1) == data.y_val).mean()),
        "val_accuracy_network_alone": float((val_logits.argmax(axis=1) == data.y_val).mean()),
        "per_class_accuracy": [round(float(r[i] / max(r.sum(), 1)), 6) for i, r in enumerate(matrix)],
        "confusion_matrix": matrix.tolist(),
        "ece_before": expected_calibration_error(softmax(logits), data.y_test, cfg.ece_bins),
        "ece_after": expected_calibration_error(softmax(logits, temperature), data.y_test, cfg.ece_bins),
        "ece_served": expected_calibration_error(served, data.y_test, cfg.ece_bins),
        "test_nll_before": nll(logits, data.y_test),
        "test_nll_after": nll(logits, data.y_test, temperature),
        "subset_accuracy": {"first": n, "accuracy": float((predicted[:n] == data.y_test[:n]).mean())},
    }
    return metrics, temperature


def build_card(
    cfg: Config,
    data: Mnist,
    metrics: dict[str, object],
    temperature: float,
    history: dict[str, list[float | None]],
    choice: Choice,
    wall_s: float,
) -> dict[str, object]:
    """The card as models/CARD.md describes it."""
    return {
        "name": "mnist",
        "version": "2.3.0",
        "task": "classification",
        "network": {"class": "DigitNet", "kwargs": dict(cfg.network)},
        "input": {"image_size": [IMAGE_SIZE, IMAGE_SIZE], "pixel_scaling": pixel_scaling_contract()},
        "training_inputs": (
            "every image through the service's prepare_upload (PNG -> MNIST form); per batch "
            f"{cfg.photo_share:.0%} rendered as uploads (training.photos effects {', '.join(PHOTO_EFFECTS)}; "
            f"frames {TRAIN_FRAME[0]}-{TRAIN_FRAME[1]} px), the rest MNIST with styled 1s and 7s "
            "(training.styles), then the affine and stroke augmentation"
        ),
        "classes": [str(d) for d in range(10)],
        "calibration": {"temperature": temperature, "fitted_on": "validation", "objective": "nll"},
        "metrics": {
            **metrics,
            "best_epoch": choice.epoch,
            "best_weights": choice.weights,
            "eval_batch_size": cfg.eval_batch_size,
        },
        "data": data.info.as_dict(),
        "config": asdict(cfg),
        "seed": cfg.seed,
        "command": command_line("training.mnist"),
        "versions": library_versions(),
        "created": utc_timestamp(),
        "wall_time_s": round(wall_s, 1),
        "epoch_times_s": history["epoch_s"],
        "history": history,
    }


class UploadBenchmark(TypedDict):
    """The card's `upload_benchmark`: images per class, the seed, and metrics per class."""

    per_class: int
    seed: int
    classes: dict[str, dict[str, float]]


def upload_benchmark(net: DigitNet, data: Mnist, cfg: Config, temperature: float) -> UploadBenchmark:
    """bench.uploads in-process on the raw MNIST test digits: accuracy and ECE per effect class."""
    uploads = upload_set(data.x_test, data.y_test, cfg.upload_bench_per_class, cfg.seed)
    answers = predict_uploads(net, temperature, [u[2] for u in uploads])
    return {"per_class": cfg.upload_bench_per_class, "seed": cfg.seed, "classes": report(uploads, answers)}
