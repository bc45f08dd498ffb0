"""The tutorial's Boston split and scaling, and the closed-form optimum every model is judged against.

First 80% of rows train, last 20% test; the min and max of the training rows scale every column,
MEDV included, to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.features import BOSTON_FEATURES, MinMaxScaling

TRAIN_RATIO = 0.8
# Test-split rows the card shows as examples, the tutorial's -10 among them.
EXAMPLE_ROWS = (0, 12, 25, 38, 51, 64, 77, -10)


@dataclass(frozen=True)
class BostonSplit:
    """Normalized train/test arrays: x (N, 13), y (N, 1), float64; plus the raw rows and the scaling."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scaling: MinMaxScaling  # of the training rows, every column; the service undoes it the same way
    raw_test: np.ndarray  # (N_test, 14) unscaled, for examples and $ metrics

    @property
    def minimum(self) -> np.ndarray:
        return np.array(self.scaling.minimum)

    def denormalize_price(self, y: np.ndarray) -> np.ndarray:
        """Normalized MEDV -> $1000s."""
        return self.scaling.unscale_target(y)

    def normalization(self) -> dict[str, object]:
        """The card's `normalization` entry."""
        return self.scaling.card()


def split_and_normalize(data: np.ndarray, ratio: float = TRAIN_RATIO) -> BostonSplit:
    """(506, 14) raw rows -> the tutorial's split, scaled by the training rows' min and max."""
    offset = int(data.shape[0] * ratio)
    scaling = MinMaxScaling.of_rows(data[:offset])
    scaled = scaling.scale(data)
    train, test = scaled[:offset], scaled[offset:]
    return BostonSplit(
        train[:, :-1], train[:, -1:], test[:, :-1], test[:, -1:], scaling, data[offset:].copy()
    )


@dataclass(frozen=True)
class ClosedForm:
    """Least squares on the training split (numpy.linalg.lstsq), with its MSEs in normalized units."""

    w: np.ndarray  # (13, 1)
    b: float
    train_mse: float
    test_mse: float


def closed_form(split: BostonSplit) -> ClosedForm:
    """The optimum any linear model can reach on this split's training rows."""
    design = np.hstack([split.x_train, np.ones((len(split.x_train), 1))])
    solution = np.linalg.lstsq(design, split.y_train, rcond=None)[0]
    w, b = solution[:-1], float(solution[-1, 0])
    train_mse = float(np.mean((split.x_train @ w + b - split.y_train) ** 2))
    test_mse = float(np.mean((split.x_test @ w + b - split.y_test) ** 2))
    return ClosedForm(w, b, train_mse, test_mse)


def examples(split: BostonSplit, rows: tuple[int, ...] = EXAMPLE_ROWS) -> list[dict[str, object]]:
    """Real test rows for the card: features by name and the true MEDV in $1000s."""
    out: list[dict[str, object]] = []
    for row in rows:
        raw = split.raw_test[row]
        features = {name: float(v) for name, v in zip(BOSTON_FEATURES, raw[:-1], strict=True)}
        out.append({"row": row, "features": features, "MEDV": float(raw[-1])})
    return out


def relative_gap(value: float, optimum: float) -> float:
    """(value - optimum) / optimum: how far a test MSE is from the closed form's, as a fraction."""
    return (value - optimum) / optimum
