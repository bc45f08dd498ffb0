"""Tiny model folders in the real format, with known weights, for the service tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.artifacts import fixture_card
from models.features import BOSTON_COLUMNS, BOSTON_FEATURES, pixel_scaling_contract

# Training-range min and max of the 13 features and MEDV.
BOSTON_MIN = [0.0, 0.0, 0.5, 0.0, 0.4, 3.5, 3.0, 1.0, 1.0, 187.0, 12.0, 0.0, 2.0, 5.0]
BOSTON_MAX = [90.0, 100.0, 28.0, 1.0, 0.9, 8.5, 100.0, 12.0, 24.0, 711.0, 22.0, 400.0, 38.0, 50.0]
WEIGHTS = (np.arange(1, 14, dtype=np.float32) * 0.05 - 0.3).reshape(13, 1)  # exact in binary? close
BIAS = 0.25
ROW = {
    "CRIM": 0.5,
    "ZN": 10.0,
    "INDUS": 6.0,
    "CHAS": 1.0,
    "NOX": 0.5,
    "RM": 6.0,
    "AGE": 50.0,
    "DIS": 4.0,
    "RAD": 5.0,
    "TAX": 300.0,
    "PTRATIO": 18.0,
    "B": 390.0,
    "LSTAT": 10.0,
}


def expected_price(row: dict[str, float]) -> float:
    """The tutorial's arithmetic by hand: model(x_norm) * (max - min) + min."""
    lo, hi = np.array(BOSTON_MIN, np.float64), np.array(BOSTON_MAX, np.float64)
    x = np.array([row[n] for n in BOSTON_FEATURES], np.float64)
    xn = (x - lo[:13]) / (hi[:13] - lo[:13])
    y = float(xn @ WEIGHTS.astype(np.float64)[:, 0] + np.float32(BIAS))
    return y * (hi[13] - lo[13]) + lo[13]


def _card(name: str, task: str, network: dict[str, Any]) -> dict[str, Any]:
    return {**fixture_card(name, task, network, version="0.0.1-test", source="tests/app/model_fixtures.py")}


def write_boston(folder: Path) -> dict[str, Any]:
    """A Regressor with the weights above: prices known exactly."""
    from models.artifacts import write_model_folder
    from models.networks import Regressor

    net = Regressor()
    net.fc.weight.set_value(WEIGHTS)
    net.fc.bias.set_value(np.array([BIAS], dtype=np.float32))
    card = _card("boston", "regression", {"class": "Regressor", "kwargs": {"in_features": 13}})
    card |= {
        "input": {"features": list(BOSTON_FEATURES)},
        "normalization": {"columns": list(BOSTON_COLUMNS), "min": BOSTON_MIN, "max": BOSTON_MAX},
        "target": {"name": "MEDV", "unit": "$1000s"},
        "metrics": {"test_mse": 0.02, "test_rmse": 5.0},
        "examples": [{"row": -10, "features": ROW, "MEDV": 20.0}],
    }
    return write_model_folder(folder, net, card)


def write_mnist(folder: Path, temperature: float = 1.5) -> dict[str, Any]:
    """A small DigitNet with seeded random weights (shapes only, answers arbitrary but fixed)."""
    import paddle

    from models.artifacts import write_model_folder
    from models.networks import DigitNet

    paddle.seed(0)
    kwargs = {"channels": [4, 4, 8, 8], "hidden": 16, "dropout": 0.25, "num_classes": 10}
    net = DigitNet(**kwargs)
    card = _card("mnist", "classification", {"class": "DigitNet", "kwargs": kwargs})
    card |= {
        "input": {"image_size": [28, 28], "pixel_scaling": pixel_scaling_contract()},
        "classes": [str(d) for d in range(10)],
        "calibration": {"temperature": temperature},
        "metrics": {"test_accuracy": 0.1},
    }
    return write_model_folder(folder, net, card)


def write_models(root: Path) -> Path:
    write_boston(root / "boston")
    write_mnist(root / "mnist")
    return root
