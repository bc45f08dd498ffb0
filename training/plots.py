"""The PNG figures written beside the parameters: loss curves and the confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np


def plot_curves(path: Path, curves: Mapping[str, Sequence[float]], title: str, ylabel: str = "loss") -> None:
    """One panel: each named curve against its epoch (1-based)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version string: same inputs, same bytes
    plt.close(fig)


def plot_loss_and_accuracy(path: Path, history: Mapping[str, Sequence[float | None]]) -> None:
    """Two panels: train/val loss and train/val accuracy per epoch (a gap where not validated)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    curve = {k: np.array([np.nan if v is None else v for v in vs], np.float64) for k, vs in history.items()}
    epochs = np.arange(1, len(curve["train_loss"]) + 1)
    left.plot(epochs, curve["train_loss"], label="train (augmented)")
    left.plot(epochs, curve["val_loss"], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    right.plot(epochs, curve["train_acc"], label="train (augmented)")
    right.plot(epochs, curve["val_acc"], "o-", label="validation")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def plot_confusion(path: Path, matrix: np.ndarray, title: str) -> None:
    """The confusion matrix as a heat map (log colour scale) with the counts written in."""
    fig, ax = plt.subplots(figsize=(6, 5.5), dpi=100)
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 4 else "black"
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    ticks = np.arange(matrix.shape[0])
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted digit", ylabel="true digit", title=title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
