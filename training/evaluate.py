"""Uploads through the service's own preprocessing and a network, in-process: the upload benchmark
in the card, and `bench.uploads --local`."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import paddle

from app.predictors.preprocess import prepare_upload
from models import second_look
from models.features import scale_pixels
from training.calibration import expected_calibration_error, softmax

MAX_PIXELS = 40_000_000  # the service's default limit
Upload = tuple[str, int, bytes]  # (class, label, file bytes)


def mnist_forms(uploads: list[bytes]) -> tuple[np.ndarray, list[bool]]:
    """(N, 28, 28) uint8 as the service prepares each upload (zeros where refused), and which it took."""
    out = np.zeros((len(uploads), 28, 28), np.uint8)
    ok = []
    for i, data in enumerate(uploads):
        try:
            out[i] = prepare_upload(data, MAX_PIXELS)[0]
            ok.append(True)
        except Exception:  # a client error (no ink, ...): the service answers 4xx, counted wrong
            ok.append(False)
    return out, ok


def predict_logits(net: paddle.nn.Layer, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 10) logits, in eval mode, exactly as the service scales pixels."""
    net.eval()
    out = [np.zeros((0, 10), np.float32)]
    with paddle.no_grad():
        for i in range(0, len(images), batch_size):
            x = paddle.to_tensor(scale_pixels(images[i : i + batch_size]))  # (B, 1, 28, 28)
            out.append(net(x).numpy())
    return np.concatenate(out).astype(np.float32)


def served_probabilities(
    net: paddle.nn.Layer, images: np.ndarray, temperature: float, batch_size: int = 500
) -> np.ndarray:
    """uint8 (N, 28, 28) -> (N, 10) as the service answers: softmax(logits / T), then `models.second_look`."""
    probs = softmax(predict_logits(net, images, batch_size), temperature)
    return looked_again(net, images, probs, temperature, batch_size)


def looked_again(
    net: paddle.nn.Layer, images: np.ndarray, probs: np.ndarray, temperature: float, batch_size: int = 500
) -> np.ndarray:
    """`probs` (softmax(logits / T) of `images`) after `models.second_look`, as DigitPipeline.look_again."""
    rows = second_look.unsure(probs)
    if not len(rows):
        return probs
    views = softmax(predict_logits(net, second_look.views(images[rows]), batch_size), temperature)
    return second_look.combine(probs, rows, views)


def predict_uploads(
    net: paddle.nn.Layer, temperature: float, uploads: list[bytes]
) -> list[list[float] | None]:
    """Calibrated probabilities for each upload as the service would answer, None where it refuses."""
    images, ok = mnist_forms(uploads)
    probs = served_probabilities(net, images, temperature)
    return [p.tolist() if good else None for p, good in zip(probs, ok, strict=True)]


def report(uploads: list[Upload], answers: list[list[float] | None]) -> dict[str, dict[str, float]]:
    """Accuracy, ECE and count per class and overall; an error answer counts as wrong."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (name, _, _) in enumerate(uploads):
        groups[name].append(i)
    groups["overall"] = list(range(len(uploads)))
    out = {}
    for name, idx in groups.items():
        labels = np.array([uploads[i][1] for i in idx])
        probs = np.array([answers[i] if answers[i] is not None else [0.1] * 10 for i in idx])
        failed = sum(answers[i] is None for i in idx)
        correct = (probs.argmax(1) == labels) & np.array([answers[i] is not None for i in idx])
        out[name] = {
            "n": len(idx),
            "accuracy": round(float(correct.mean()), 4),
            "ece": round(expected_calibration_error(probs, labels), 4),
            "errors": failed,
        }
    return out
