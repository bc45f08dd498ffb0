"""Prices: 13 validated features -> x_norm @ W + b, then the target scaling undone.

`PricePipeline` owns the route's path after validation (`app.schemas`). The weights are read once
from the verified network; each row is then 13 multiply-adds in plain Python floats (float64),
which beats NumPy and Paddle for one row and gives a batch the very same numbers as single requests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from app.errors import InvalidInput
from app.schemas import PriceFeatures, validation_message
from models.artifacts import LoadedModel
from models.features import BOSTON_FEATURES, MinMaxScaling

FLOAT32_MAX = float(np.finfo(np.float32).max)
Row = list[float]


class PricePipeline:
    """Prices and explanations for rows of the 13 features in the data set's column order."""

    def __init__(self, loaded: LoadedModel, max_batch: int) -> None:
        scaling = MinMaxScaling.from_card(loaded.card["normalization"])
        state = loaded.network.state_dict()
        weight = np.asarray(state["fc.weight"].numpy(), np.float64).reshape(-1).tolist()  # (13,)
        bias = float(np.asarray(state["fc.bias"].numpy()).reshape(-1)[0])
        self.max_batch = max_batch
        self.active = 0  # requests holding a lease (`Registry.lease`); nothing to release after them
        self.feature_min, self.feature_max = list(scaling.minimum[:-1]), list(scaling.maximum[:-1])
        target_range = scaling.span[-1]
        # price = baseline + sum_i x_norm_i * W_i * target_range, in $1000s
        self._weighted = [w * target_range for w in weight]
        self.baseline = bias * target_range + scaling.minimum[-1]
        self._columns = list(zip(self.feature_min, scaling.span[:-1], self._weighted, strict=True))
        self.model = {"name": loaded.name, "version": loaded.version}
        self.predict([list(self.feature_min)])  # warm-up

    def predict_batch(self, rows: list[Row], explain: bool) -> list[dict[str, Any]]:
        """The rows of a /predict/price/batch body (at most `max_batch`) -> one answer each."""
        if len(rows) > self.max_batch:
            raise InvalidInput(f"instances: {len(rows)} instances, over the limit of {self.max_batch}")
        return self.predict(rows, explain, batch="instances")

    def normalize(self, row: Row, prefix: str = "") -> Row:
        """Raw features -> min/max-scaled, as the network saw them; `prefix` names a batch row in errors."""
        xn = [(v - lo) / span for v, (lo, span, _) in zip(row, self._columns, strict=True)]
        for name, value in zip(BOSTON_FEATURES, xn, strict=True):
            if not abs(value) <= FLOAT32_MAX:
                where = f"{prefix}.{name}" if prefix else name
                raise InvalidInput(
                    f"{where}: value is too large for the model (its scaled value overflows float32)",
                    [{"loc": where.split("."), "msg": "too large", "type": "value_error"}],
                )
        return xn

    def predict(self, rows: list[Row], explain: bool = False, batch: str = "") -> list[dict[str, Any]]:
        """One answer dict per row; with `batch`, an error names its row `batch[i]`."""
        return [self._answer(row, explain, f"{batch}[{i}]" if batch else "") for i, row in enumerate(rows)]

    def prices(self, rows: list[Row], tensor: str) -> list[float]:
        """Rows of the 13 raw features -> prices in $1000s, checked as /predict/price checks a body.

        For the Open Inference Protocol: an error names the row and feature (`features[2].CRIM`).
        """
        for i, row in enumerate(rows):
            try:
                PriceFeatures.model_validate(dict(zip(BOSTON_FEATURES, row, strict=True)))
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                raise InvalidInput(validation_message({**error, "loc": (tensor, i, *error["loc"])})) from None
        return [answer["price"] for answer in self.predict(rows, batch=tensor)]

    def _answer(self, row: Row, explain: bool, prefix: str) -> dict[str, Any]:
        xn = self.normalize(row, prefix)
        contributions = [v * w for v, w in zip(xn, self._weighted, strict=True)]  # $1000s
        price = self.baseline + sum(contributions)
        explanation = None
        if explain:
            named = dict(zip(BOSTON_FEATURES, contributions, strict=True))
            explanation = {"baseline": self.baseline, "contributions": named}
        return {
            "price": price,
            "price_usd": round(price * 1000.0, 2),
            "model": self.model,
            "warnings": self._warnings(row),
            "explanation": explanation,
        }

    def _warnings(self, row: Row) -> list[str]:
        return [
            f"{name}={v:g} is outside the training range [{lo:g}, {hi:g}]; the price is an extrapolation"
            for name, v, lo, hi in zip(BOSTON_FEATURES, row, self.feature_min, self.feature_max, strict=True)
            if v < lo or v > hi
        ]

    def training_range(self) -> dict[str, dict[str, float]]:
        """Each feature's min and max in the training split, from the card."""
        return {
            name: {"min": lo, "max": hi}
            for name, lo, hi in zip(BOSTON_FEATURES, self.feature_min, self.feature_max, strict=True)
        }
