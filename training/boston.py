"""The tutorial's Paddle house-price model; writes `models/boston/`: `python -m training.boston`.

`Regressor` (one Linear(13, 1)) trained with `paddle.optimizer.SGD` on `F.square_error_cost`, in
`train()` mode, evaluated in `eval()` mode, against the closed-form least-squares optimum.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F

from models import MODELS_DIR
from models.artifacts import library_versions, write_model_folder
from models.features import BOSTON_FEATURES, BOSTON_TARGET
from models.networks import Regressor
from training.boston_data import BostonSplit, closed_form, examples, relative_gap, split_and_normalize
from training.common import command_line, seed_everything, utc_timestamp
from training.datasets import DataInfo, load_boston
from training.plots import plot_curves


@dataclass
class Config:
    """Full-batch steps near the largest stable rate (2 / 7.1): the slow direction needs ~10^4 of them."""

    epochs: int = 10_000
    batch_size: int | None = None  # None: all training rows per step (the tutorial used 10)
    lr: float = 0.2
    seed: int = 0


def train(net: Regressor, split: BostonSplit, cfg: Config, rng: np.random.Generator) -> list[float]:
    """SGD on the squared error, shuffled each epoch; returns the mean training loss of each epoch."""
    opt = paddle.optimizer.SGD(learning_rate=cfg.lr, parameters=net.parameters())
    x_all = split.x_train.astype(np.float32)
    y_all = split.y_train.astype(np.float32)
    batch = cfg.batch_size or len(x_all)
    losses = []
    net.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(x_all))
        epoch_loss = 0.0
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            x, y = paddle.to_tensor(x_all[idx]), paddle.to_tensor(y_all[idx])  # (B, 13), (B, 1)
            loss = paddle.mean(F.square_error_cost(net(x), y))
            loss.backward()
            opt.step()
            opt.clear_grad()
            epoch_loss += float(loss) * len(idx)
        losses.append(epoch_loss / len(order))
    return losses


def predict(net: Regressor, x: np.ndarray) -> np.ndarray:
    """Normalized features (N, 13) -> normalized prices (N, 1) as float64, in eval mode."""
    net.eval()
    with paddle.no_grad():
        return net(paddle.to_tensor(x.astype(np.float32))).numpy().astype(np.float64)


def evaluate(net: Regressor, split: BostonSplit) -> dict[str, float]:
    """The card's model metrics: MSE in normalized units; RMSE and MAE in $1000s on the test split."""
    test_pred = predict(net, split.x_test)
    price_error = split.denormalize_price(test_pred[:, 0]) - split.raw_test[:, -1]  # $1000s
    return {
        "train_mse": float(np.mean((predict(net, split.x_train) - split.y_train) ** 2)),
        "test_mse": float(np.mean((test_pred - split.y_test) ** 2)),
        "test_rmse": float(np.sqrt(np.mean(price_error**2))),
        "test_mae": float(np.mean(np.abs(price_error))),
    }


def build_card(cfg: Config, split: BostonSplit, info: DataInfo, metrics: dict, wall_s: float) -> dict:
    """The card as models/CARD.md describes it."""
    return {
        "name": "boston",
        "version": "1.0.0",
        "task": "regression",
        "network": {"class": "Regressor", "kwargs": {"in_features": len(BOSTON_FEATURES)}},
        "input": {"features": list(BOSTON_FEATURES)},
        "normalization": split.normalization(),
        "target": {"name": BOSTON_TARGET, "unit": "$1000s"},
        "metrics": metrics,
        "examples": examples(split),
        "data": info.as_dict(),
        "config": asdict(cfg),
        "seed": cfg.seed,
        "command": command_line("training.boston"),
        "versions": library_versions(),
        "created": utc_timestamp(),
        "wall_time_s": round(wall_s, 2),
    }


def parse_args() -> tuple[Config, Path, Path | None]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: all training rows")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, default=MODELS_DIR / "boston", help="model folder to write")
    p.add_argument("--data-dir", type=Path, default=None, help="local housing.data or boston_housing.csv")
    a = p.parse_args()
    return Config(a.epochs, a.batch_size, a.lr, a.seed), a.out, a.data_dir


def main() -> None:
    cfg, out, data_dir = parse_args()
    start = time.perf_counter()
    rng = seed_everything(cfg.seed)
    data, info = load_boston(data_dir)
    split = split_and_normalize(data)
    optimum = closed_form(split)
    net = Regressor(len(BOSTON_FEATURES))
    losses = train(net, split, cfg, rng)
    metrics = evaluate(net, split)
    metrics |= {"closed_form_test_mse": optimum.test_mse, "closed_form_train_mse": optimum.train_mse}
    out.mkdir(parents=True, exist_ok=True)
    floor = [optimum.train_mse] * len(losses)
    plot_curves(out / "loss.png", {"train MSE": losses, "closed-form train MSE": floor},
                "Regressor: training loss (normalized units)", "MSE")  # fmt: skip
    write_model_folder(out, net, build_card(cfg, split, info, metrics, time.perf_counter() - start))
    gap = relative_gap(metrics["test_mse"], optimum.test_mse)
    print(f"test MSE {metrics['test_mse']:.6f}  closed form {optimum.test_mse:.6f}  gap {gap:+.3%} "
          "(target within 1%)")  # fmt: skip
    print(f"test RMSE {metrics['test_rmse']:.3f}  MAE {metrics['test_mae']:.3f}  ($1000s)")
    row = -10  # the tutorial's own check
    price = split.denormalize_price(predict(net, split.x_test[row : row + 1 or None])[0, 0])
    print(f"test row {row}: predicted {price:.2f}, label {split.raw_test[row, -1]:.2f} ($1000s)")
    print(f"wall time {time.perf_counter() - start:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
