"""The input contracts both training and serving agree on: feature order and pixel scaling.

Nothing here imports paddle, so the app's schemas can use it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Boston housing: the 13 features in the data set's column order, then the target.
BOSTON_FEATURES: tuple[str, ...] = (
    "CRIM",
    "ZN",
    "INDUS",
    "CHAS",
    "NOX",
    "RM",
    "AGE",
    "DIS",
    "RAD",
    "TAX",
    "PTRATIO",
    "B",
    "LSTAT",
)
BOSTON_TARGET = "MEDV"  # median value of owner-occupied homes, in $1000s
BOSTON_COLUMNS: tuple[str, ...] = (*BOSTON_FEATURES, BOSTON_TARGET)


@dataclass(frozen=True)
class FeatureDomain:
    """The physically meaningful range of one feature (not the range seen in training)."""

    description: str
    unit: str
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False  # CHAS is 0 or 1; RAD is an index


BOSTON_DOMAINS: dict[str, FeatureDomain] = {
    "CRIM": FeatureDomain("per capita crime rate by town", "crimes per capita", 0.0),
    "ZN": FeatureDomain("residential land zoned for lots over 25,000 sq.ft.", "%", 0.0, 100.0),
    "INDUS": FeatureDomain("non-retail business acres per town", "%", 0.0, 100.0),
    "CHAS": FeatureDomain("bounds the Charles River (1) or not (0)", "0 or 1", 0.0, 1.0, True),
    "NOX": FeatureDomain("nitric oxides concentration", "parts per 10 million", 0.0),
    "RM": FeatureDomain("average rooms per dwelling", "rooms", 0.0),
    "AGE": FeatureDomain("owner-occupied units built before 1940", "%", 0.0, 100.0),
    "DIS": FeatureDomain("weighted distance to five Boston employment centres", "distance", 0.0),
    "RAD": FeatureDomain("index of accessibility to radial highways", "index", 0.0),
    "TAX": FeatureDomain("full-value property-tax rate", "$ per $10,000", 0.0),
    "PTRATIO": FeatureDomain("pupil-teacher ratio by town", "pupils per teacher", 0.0),
    "B": FeatureDomain("1000(Bk - 0.63)^2, Bk the proportion of Black residents", "index", 0.0, 396.9),
    "LSTAT": FeatureDomain("lower status of the population", "%", 0.0, 100.0),
}


# MNIST: a 28x28 grey image, white digit on black, 20x20 box centred by mass.
IMAGE_SIZE = 28
DIGIT_BOX = 20
# Mean and standard deviation of the MNIST training pixels in [0, 1].
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081


def scale_pixels(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Turn uint8 digits (N, 28, 28) in 0..255, white on black, into network input (N, 1, 28, 28)."""
    x = images.astype(np.float32).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    x *= np.float32(1.0 / (255.0 * PIXEL_STD))
    x -= np.float32(PIXEL_MEAN / PIXEL_STD)
    return x


def pixel_scaling_contract() -> dict[str, object]:
    """The scaling as the card records it, so a client can reproduce it."""
    return {
        "input": "uint8 28x28, white digit on black",
        "formula": "(pixel / 255 - mean) / std",
        "mean": PIXEL_MEAN,
        "std": PIXEL_STD,
    }


def softmax(logits: npt.NDArray[np.floating], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """(N, C) logits -> softmax(logits / T) in float64, rows summing to 1 (the served probabilities)."""
    z = logits.astype(np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class MinMaxScaling:
    """Boston's min/max scaling of the 13 features and the target, from the training rows' columns.

    A column whose training values are all equal has span 1, not 0: its scaled value is then
    `value - min` (0 for every training row) instead of a division by zero.
    """

    minimum: tuple[float, ...]  # (14,): the 13 features in BOSTON_FEATURES order, then MEDV
    maximum: tuple[float, ...]

    @classmethod
    def of_rows(cls, rows: npt.NDArray[np.floating]) -> MinMaxScaling:
        """The scaling of (N, 14) training rows."""
        return cls(tuple(rows.min(axis=0).tolist()), tuple(rows.max(axis=0).tolist()))

    @classmethod
    def from_card(cls, normalization: dict[str, object]) -> MinMaxScaling:
        """The scaling a card's `normalization` records; its columns must be BOSTON_COLUMNS."""
        columns = list(normalization["columns"])  # type: ignore[call-overload]
        if columns != list(BOSTON_COLUMNS):
            raise ValueError(f"card normalization columns {columns} != {list(BOSTON_COLUMNS)}")
        lo, hi = normalization["min"], normalization["max"]
        return cls(tuple(float(v) for v in lo), tuple(float(v) for v in hi))  # type: ignore[attr-defined]

    @property
    def span(self) -> tuple[float, ...]:
        return tuple(h - lo if h > lo else 1.0 for lo, h in zip(self.minimum, self.maximum, strict=True))

    def scale(self, rows: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(N, 14) raw rows, or (N, 13) features only -> scaled to [0, 1] over the training rows."""
        k = rows.shape[1]
        return np.asarray((rows - np.array(self.minimum[:k])) / np.array(self.span[:k]), np.float64)

    def unscale_target(self, y: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Scaled MEDV -> $1000s."""
        return np.asarray(y * self.span[-1] + self.minimum[-1], np.float64)

    def card(self) -> dict[str, object]:
        """The card's `normalization` entry."""
        return {"columns": list(BOSTON_COLUMNS), "min": list(self.minimum), "max": list(self.maximum)}
