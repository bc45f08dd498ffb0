"""Tiny deterministic model folders in the real format (models.artifacts), for the hardening tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.artifacts import fixture_card
from models.features import BOSTON_COLUMNS, BOSTON_FEATURES, pixel_scaling_contract

# Training-range min and max of the 13 features and MEDV (the Boston data set's ranges, rounded).
BOSTON_MIN = [0.0, 0.0, 0.46, 0.0, 0.385, 3.5, 2.9, 1.1, 1.0, 187.0, 12.6, 0.32, 1.7, 5.0]
BOSTON_MAX = [89.0, 100.0, 27.7, 1.0, 0.871, 8.8, 100.0, 12.2, 24.0, 711.0, 22.0, 396.9, 38.0, 50.0]


def _common_card(name: str, task: str, network: dict[str, Any]) -> dict[str, Any]:
    return {
        **fixture_card(
            name, task, network, version="0.0.1-fixture", source="tests/hardening/fixture_models.py"
        )
    }


def write_boston(folder: Path) -> dict[str, Any]:
    """A Regressor with weights 0.01 * (i + 1) and bias 0.1: a known, smooth price function."""
    import numpy as np
    import paddle

    from models.artifacts import write_model_folder
    from models.networks import Regressor

    paddle.seed(0)
    net = Regressor()
    net.fc.weight.set_value(np.arange(1, 14, dtype=np.float32).reshape(13, 1) * 0.01)
    net.fc.bias.set_value(np.array([0.1], dtype=np.float32))
    card = _common_card("boston", "regression", {"class": "Regressor", "kwargs": {"in_features": 13}})
    example = {
        name: round((lo + hi) / 2, 3)
        for name, lo, hi in zip(BOSTON_FEATURES, BOSTON_MIN, BOSTON_MAX, strict=False)
    }
    example["CHAS"] = 0.0
    card |= {
        "input": {"features": list(BOSTON_FEATURES)},
        "normalization": {"columns": list(BOSTON_COLUMNS), "min": BOSTON_MIN, "max": BOSTON_MAX},
        "target": {"name": "MEDV", "unit": "$1000s"},
        "metrics": {
            "train_mse": 0.01,
            "test_mse": 0.02,
            "test_rmse": 5.0,
            "test_mae": 3.5,
            "closed_form_test_mse": 0.02,
            "closed_form_train_mse": 0.01,
        },
        "examples": [{"row": -10, "features": example, "MEDV": 20.0}],
    }
    return write_model_folder(folder, net, card)


def write_mnist(folder: Path, channels: tuple[int, ...] = (4, 4, 8, 8), hidden: int = 16) -> dict[str, Any]:
    """A DigitNet with seeded random weights; wide `channels` make a deliberately slow model."""
    import paddle

    from models.artifacts import write_model_folder
    from models.networks import DigitNet

    paddle.seed(0)
    kwargs = {"channels": list(channels), "hidden": hidden, "dropout": 0.25, "num_classes": 10}
    net = DigitNet(**kwargs)
    card = _common_card("mnist", "classification", {"class": "DigitNet", "kwargs": kwargs})
    card |= {
        "input": {"image_size": [28, 28], "pixel_scaling": pixel_scaling_contract()},
        "classes": [str(d) for d in range(10)],
        "calibration": {"temperature": 1.0},
        "metrics": {
            "test_accuracy": 0.1,
            "val_accuracy": 0.1,
            "per_class_accuracy": [0.1] * 10,
            "confusion_matrix": [[0] * 10 for _ in range(10)],
            "ece_before": 0.0,
            "ece_after": 0.0,
            "subset_accuracy": {"first": 0, "accuracy": 0.0},
        },
    }
    return write_model_folder(folder, net, card)


def write_models(root: Path, **mnist_kwargs: Any) -> Path:
    """`root/boston` and `root/mnist`; returns `root` (for PADDLE_SERVE_MODELS_DIR)."""
    write_boston(root / "boston")
    write_mnist(root / "mnist", **mnist_kwargs)
    return root
