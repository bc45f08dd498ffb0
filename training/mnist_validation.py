"""Validating DigitNet during training: which epochs are validated, their scores, the history.

`training.mnist.fit` calls `validated_epoch` after every epoch and `log_epoch` to record and print
it; the card (`training.mnist_card`) takes the history and the `Choice` that fit made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.networks import DigitNet
from training.calibration import nll
from training.datasets import Mnist
from training.evaluate import predict_logits
from training.served import Served

if TYPE_CHECKING:  # training.mnist imports this module
    from training.mnist import Config, Optimiser

Scores = tuple[float, float, float]  # validation (loss, accuracy as MNIST, accuracy as uploads)


def evaluate(net: DigitNet, images: np.ndarray, labels: np.ndarray, cfg: Config) -> tuple[float, float]:
    """(cross-entropy, accuracy) on a split."""
    logits = predict_logits(net, images, cfg.eval_batch_size)
    return nll(logits, labels), float((logits.argmax(axis=1) == labels).mean())


def validate(net: DigitNet, data: Mnist, val: Served, cfg: Config) -> Scores:
    """(loss, accuracy) on the validation digits as MNIST, and the accuracy on them as uploads."""
    val_loss, val_acc = evaluate(net, data.x_val, data.y_val, cfg)
    return val_loss, val_acc, evaluate(net, val.photo, data.y_val, cfg)[1]


@dataclass
class Choice:
    """The weights `fit` restored: after which epoch, and the epoch's own or the average's."""

    epoch: int = 0
    weights: str = "own"


HISTORY = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_photo_acc",
    "val_acc_ema",
    "val_photo_acc_ema",
)


def validated_epoch(
    net: DigitNet, o: Optimiser, data: Mnist, val: Served, cfg: Config, epoch: int
) -> tuple[Scores, Scores] | None:
    """The epoch's own and averaged weights' validation scores, or None for an epoch not validated.

    Only the last `cfg.validate_last` epochs are validated: on the one-cycle schedule the early,
    hot epochs never won (2.1.0's history: best at 30 of 30), and validating costs ~18 s an epoch.
    """
    if epoch <= cfg.epochs - cfg.validate_last:
        return None
    own = validate(net, data, val, cfg)
    with o.average.applied(net):
        averaged = validate(net, data, val, cfg)
    return own, averaged


def log_epoch(
    history: dict[str, list[float | None]],
    epoch: int,
    trained: tuple[float, float],
    scores: tuple[Scores, Scores] | None,
) -> None:
    """Append one epoch to `history` (None where it was not validated) and print it."""
    line = f"epoch {epoch}: train loss {trained[0]:.4f} acc {trained[1]:.4f} | "
    values: list[float | None] = [*trained, None, None, None, None, None]
    if scores is not None:
        (loss, acc, photos), (_, acc_avg, photos_avg) = scores
        values[2:] = [loss, acc, photos, acc_avg, photos_avg]
        line += f"val loss {loss:.4f} acc {acc:.4f} photos {photos:.4f} | "
        line += f"averaged: acc {acc_avg:.4f} photos {photos_avg:.4f} | "
    for key, value in zip(HISTORY, values, strict=True):
        history[key].append(None if value is None else round(value, 6))
    print(f"{line}{history['epoch_s'][-1]:.0f} s", flush=True)
