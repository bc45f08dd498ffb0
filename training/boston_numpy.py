"""The tutorial's house-price model in plain NumPy: `python -m training.boston_numpy`.

A `Network` with forward, loss, gradient and update, trained by full-batch gradient descent or
by mini-batch SGD with a shuffle per epoch. Prints and writes (JSON + loss-curve PNG) the test MSE
beside the closed-form optimum, and what the tutorial's own settings reach.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from training.boston_data import BostonSplit, closed_form, relative_gap, split_and_normalize
from training.common import command_line, utc_timestamp
from training.datasets import load_boston
from training.plots import plot_curves

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "artifacts" / "boston_numpy"


@dataclass
class Config:
    """Defaults reach the closed form: full-batch GD near the largest stable step (2 / 7.1 = 0.28)."""

    mode: str = "gd"  # "gd": every row each step; "sgd": shuffled mini-batches
    epochs: int = 10_000  # for gd, one step per epoch
    batch_size: int = 100  # sgd only
    lr: float = 0.2
    seed: int = 0


# The tutorial's `gradient` leaves out MSE's factor 2, so its learning rate 0.1 is 0.05 here.
TUTORIAL = Config(mode="sgd", epochs=50, batch_size=100, lr=0.05)


class Network:
    """z = x @ w + b, trained on the mean squared error."""

    def __init__(self, num_of_weights: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.standard_normal((num_of_weights, 1))
        self.b = 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w + self.b  # (N, 13) -> (N, 1)

    def loss(self, z: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((z - y) ** 2))

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        """d loss / d w (13, 1) and d loss / d b, exact (the factor 2 included)."""
        error = self.forward(x) - y  # (N, 1)
        return 2.0 * x.T @ error / len(x), 2.0 * float(error.mean())

    def update(self, gradient_w: np.ndarray, gradient_b: float, eta: float) -> None:
        self.w = self.w - eta * gradient_w
        self.b = self.b - eta * gradient_b

    def train_gd(self, x: np.ndarray, y: np.ndarray, iterations: int, eta: float) -> list[float]:
        """Full-batch gradient descent; the loss before each step."""
        losses = []
        for _ in range(iterations):
            losses.append(self.loss(self.forward(x), y))
            self.update(*self.gradient(x, y), eta)
        return losses

    def train_sgd(
        self, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, eta: float, rng: np.random.Generator
    ) -> list[float]:
        """Mini-batch SGD, reshuffled every epoch; the mean batch loss of each epoch."""
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            batch_losses = []
            for k in range(0, len(x), batch_size):
                idx = order[k : k + batch_size]
                batch_losses.append(self.loss(self.forward(x[idx]), y[idx]))
                self.update(*self.gradient(x[idx], y[idx]), eta)
            losses.append(float(np.mean(batch_losses)))
        return losses


def train(split: BostonSplit, cfg: Config) -> tuple[Network, list[float]]:
    """A fresh Network trained as `cfg` says; returns it and its per-epoch training loss."""
    net = Network(split.x_train.shape[1], cfg.seed)
    if cfg.mode == "gd":
        losses = net.train_gd(split.x_train, split.y_train, cfg.epochs, cfg.lr)
    else:
        rng = np.random.default_rng(cfg.seed)
        losses = net.train_sgd(split.x_train, split.y_train, cfg.epochs, cfg.batch_size, cfg.lr, rng)
    return net, losses


def test_mse(net: Network, split: BostonSplit) -> float:
    return net.loss(net.forward(split.x_test), split.y_test)


def parse_args() -> tuple[Config, Path, Path | None]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    p.add_argument("--mode", choices=("gd", "sgd"), default=d.mode)
    p.add_argument("--epochs", type=int, default=d.epochs, help="gd: steps; sgd: passes over the data")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results.json and loss.png")
    p.add_argument("--data-dir", type=Path, default=None, help="local housing.data or boston_housing.csv")
    a = p.parse_args()
    return Config(a.mode, a.epochs, a.batch_size, a.lr, a.seed), a.out, a.data_dir


def main() -> None:
    cfg, out, data_dir = parse_args()
    start = time.perf_counter()
    data, info = load_boston(data_dir)
    split = split_and_normalize(data)
    optimum = closed_form(split)
    net, losses = train(split, cfg)
    tutorial_net, tutorial_losses = train(split, replace(TUTORIAL, seed=cfg.seed))
    mse, tutorial_mse = test_mse(net, split), test_mse(tutorial_net, split)
    results = {
        "test_mse": mse,
        "closed_form_test_mse": optimum.test_mse,
        "gap_to_closed_form": relative_gap(mse, optimum.test_mse),
        "train_mse": net.loss(net.forward(split.x_train), split.y_train),
        "closed_form_train_mse": optimum.train_mse,
        "tutorial_settings": {"config": asdict(TUTORIAL), "test_mse": tutorial_mse,
                              "gap_to_closed_form": relative_gap(tutorial_mse, optimum.test_mse)},
        "config": asdict(cfg), "data": info.as_dict(), "command": command_line("training.boston_numpy"),
        "created": utc_timestamp(), "wall_time_s": round(time.perf_counter() - start, 2),
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    curves = {
        f"{cfg.mode}, lr {cfg.lr:g}": losses,
        "tutorial: sgd, batch 100, lr 0.1 (0.05 here)": tutorial_losses,
    }
    plot_curves(out / "loss.png", curves, "NumPy linear regression: training MSE (normalized)", "MSE")
    print(f"test MSE {mse:.6f}  closed form {optimum.test_mse:.6f}  gap {results['gap_to_closed_form']:+.3%} "
          f"(target within 1%)")  # fmt: skip
    print(
        f"tutorial settings (sgd, 50 epochs, batch 100, lr 0.1): test MSE {tutorial_mse:.6f}, "
        f"gap {relative_gap(tutorial_mse, optimum.test_mse):+.1%}: too few steps for this conditioning"
    )
    print(f"wrote {out / 'results.json'} and {out / 'loss.png'}")


if __name__ == "__main__":
    main()
