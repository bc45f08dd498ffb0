"""House prices in NumPy from the loaded Regressor's weights: x_norm @ W + b, then undo the target scaling."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import InvalidInput
from models.artifacts import LoadedModel
from models.features import BOSTON_COLUMNS, BOSTON_FEATURES

FLOAT32_MAX = float(np.finfo(np.float32).max)
Matrix = npt.NDArray[np.float64]


class PricePredictor:
    """Prices and explanations for (N, 13) feature rows in the data set's column order."""

    def __init__(self, loaded: LoadedModel) -> None:
        norm = loaded.card["normalization"]
        if list(norm["columns"]) != list(BOSTON_COLUMNS):
            raise ValueError(f"card normalization columns {norm['columns']} != {list(BOSTON_COLUMNS)}")
        lo, hi = np.asarray(norm["min"], np.float64), np.asarray(norm["max"], np.float64)
        state = loaded.network.state_dict()
        weight = np.asarray(state["fc.weight"].numpy(), np.float64).reshape(-1)  # (13,)
        bias = float(np.asarray(state["fc.bias"].numpy()).reshape(-1)[0])
        self.feature_min, self.feature_max = lo[:-1], hi[:-1]
        self._feature_range = np.where(hi[:-1] > lo[:-1], hi[:-1] - lo[:-1], 1.0)
        target_range = float(hi[-1] - lo[-1])
        # price = baseline + sum_i x_norm_i * W_i * target_range, in $1000s
        self._weighted = weight * target_range
        self.baseline = bias * target_range + float(lo[-1])
        self.model = {"name": loaded.name, "version": loaded.version}

    def normalize(self, x: Matrix, batch: bool = False) -> Matrix:
        """(N, 13) raw features -> min/max-scaled, as the network saw them; a batch names rows in errors."""
        xn = (x - self.feature_min) / self._feature_range
        bad = np.argwhere(~(np.abs(xn) <= FLOAT32_MAX))
        if len(bad):
            row, col = (int(v) for v in bad[0])
            where = f"instances[{row}].{BOSTON_FEATURES[col]}" if batch else BOSTON_FEATURES[col]
            raise InvalidInput(
                f"{where}: value is too large for the model (its scaled value overflows float32)",
                [{"loc": where.split("."), "msg": "too large", "type": "value_error"}],
            )
        return xn

    def predict(self, x: Matrix, explain: bool = False, batch: bool = False) -> list[dict[str, Any]]:
        """One answer dict per row of `x` (N, 13)."""
        contributions = self.normalize(x, batch) * self._weighted  # (N, 13) in $1000s
        prices = self.baseline + contributions.sum(axis=1)
        outside = (x < self.feature_min) | (x > self.feature_max)
        answers = []
        for i, price in enumerate(prices.tolist()):
            answers.append(
                {
                    "price": price,
                    "price_usd": round(price * 1000.0, 2),
                    "model": self.model,
                    "warnings": self._warnings(x[i], outside[i]) if outside[i].any() else [],
                    "explanation": self._explain(contributions[i]) if explain else None,
                }
            )
        return answers

    def _warnings(self, row: Matrix, outside: npt.NDArray[np.bool_]) -> list[str]:
        return [
            f"{BOSTON_FEATURES[j]}={row[j]:g} is outside the training range "
            f"[{self.feature_min[j]:g}, {self.feature_max[j]:g}]; the price is an extrapolation"
            for j in np.flatnonzero(outside)
        ]

    def _explain(self, contributions: Matrix) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "contributions": dict(zip(BOSTON_FEATURES, contributions.tolist(), strict=True)),
        }

    def training_range(self) -> dict[str, dict[str, float]]:
        """Each feature's min and max in the training split, from the card."""
        return {
            name: {"min": float(lo), "max": float(hi)}
            for name, lo, hi in zip(BOSTON_FEATURES, self.feature_min, self.feature_max, strict=True)
        }
