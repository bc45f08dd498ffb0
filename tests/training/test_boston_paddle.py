"""The Paddle regressor: converges on a synthetic problem, the script runs end to end, the folder checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from models import MODELS_DIR
from models.artifacts import HashMismatchError, load_model
from models.features import MinMaxScaling
from models.networks import Regressor
from training import boston
from training.boston_data import BostonSplit, closed_form, split_and_normalize
from training.datasets import load_boston
from training.fetch import BOSTON_SOURCE


def test_regressor_reaches_closed_form_on_synthetic_data() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 13)).astype(np.float64)  # centred features: a well-conditioned problem
    y = (x @ np.linspace(-1, 1, 13) + 0.5)[:, None]
    unit = MinMaxScaling((0.0,) * 14, (1.0,) * 14)
    split = BostonSplit(x[:96], y[:96], x[96:], y[96:], unit, np.zeros((32, 14)))
    optimum = closed_form(split)
    net = Regressor(13)
    cfg = boston.Config(epochs=40, batch_size=16, lr=0.1)
    losses = boston.train(net, split, cfg, np.random.default_rng(0))
    assert losses[-1] < 1e-8 < losses[0]
    np.testing.assert_allclose(net.fc.weight.numpy(), optimum.w, atol=1e-4)
    assert float(net.fc.bias.numpy()[0]) == pytest.approx(optimum.b, abs=1e-4)
    assert boston.evaluate(net, split)["test_mse"] < 1e-8


def run_script(monkeypatch: pytest.MonkeyPatch, module, args: list[str]) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, *args])
    module.main()


def test_script_end_to_end_writes_a_loadable_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    run_script(monkeypatch, boston, ["--epochs", "30", "--batch-size", "32", "--out", str(tmp_path)])
    assert "test row -10: predicted" in capsys.readouterr().out
    loaded = load_model(tmp_path)
    card = loaded.card
    assert card["command"] == f"python -m training.boston --epochs 30 --batch-size 32 --out {tmp_path}"
    assert sorted(card["files"]) == ["loss.png", "model.pdparams"]
    assert card["data"]["sha256"] == BOSTON_SOURCE.sha256
    assert card["config"] == {"epochs": 30, "batch_size": 32, "lr": 0.2, "seed": 0}
    assert card["examples"][-1]["row"] == -10 and len(card["normalization"]["min"]) == 14
    params = tmp_path / "model.pdparams"
    params.write_bytes(params.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HashMismatchError, match=r"model\.pdparams"):
        load_model(tmp_path)


def test_committed_boston_folder_reproduces_its_card() -> None:
    loaded = load_model(MODELS_DIR / "boston")
    card = loaded.card
    assert card["command"] == "python -m training.boston"
    split = split_and_normalize(load_boston()[0])
    np.testing.assert_array_equal(card["normalization"]["min"], split.minimum)
    metrics = boston.evaluate(loaded.network, split)
    for key, value in metrics.items():
        # float32 sums: another CPU's kernels may differ in the last bits (seen: 3e-8 relative)
        assert card["metrics"][key] == pytest.approx(value, rel=1e-6), key
    optimum = closed_form(split)
    assert abs(metrics["test_mse"] - optimum.test_mse) / optimum.test_mse < 0.01
    assert card["metrics"]["closed_form_test_mse"] == pytest.approx(optimum.test_mse, rel=1e-12)
    row = split.raw_test[-10]
    assert card["examples"][-1]["MEDV"] == row[-1] and card["examples"][-1]["features"]["LSTAT"] == row[12]
