"""Train DigitNet on MNIST and write `models/mnist/`: `python -m training.mnist`.

Trains on the 50,000 training digits with batch-wise augmentation and a one-cycle learning rate,
keeps the epoch (its own weights or their moving average) with the best validation accuracy,
fits a softmax temperature on validation, and reports on the 10,000 test digits.
Quick mode for tests: `--epochs 1 --limit 512 --out /tmp/m`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from models import MODELS_DIR
from models.artifacts import PARAMS_NAME, write_model_folder
from models.features import scale_pixels
from models.networks import DigitNet
from training.augment import AugmentConfig, augment_batch, describe
from training.averaging import WeightAverage, state_copy
from training.common import parse_limit, seed_everything
from training.datasets import Mnist, load_mnist
from training.mnist_card import build_card, test_metrics, upload_benchmark
from training.mnist_validation import HISTORY, Choice, evaluate, log_epoch, validated_epoch
from training.plots import plot_confusion, plot_loss_and_accuracy
from training.served import Served, served

TARGET_ACCURACY = 0.996
TARGET_PARAMS_MB = 5.0
TARGET_WALL_S = 45 * 60


@dataclass
class Config:
    """Everything that shapes the run; the card records it."""

    epochs: int = 30
    batch_size: int = 128
    max_lr: float = 4e-3  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4
    seed: int = 0
    limit: int | None = None  # quick mode: the first N digits of every split
    eval_batch_size: int = 500
    subset_first: int = 1000  # the card's subset_accuracy: the first N test digits, for CI
    ece_bins: int = 15
    network: dict[str, Any] = field(  # DigitNet's kwargs, as the card records them (build_network)
        default_factory=lambda: {
            "channels": [16, 32, 32, 64],
            "pools": [0, 2, 3],
            "hidden": 128,
            "dropout": 0.1,
        }
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    photo_share: float = 0.35  # of each batch drawn as an upload (training.served), the rest MNIST
    styled_share: float = 0.5  # of the rest: the styled 1s and 7s where the digit has one
    upload_bench_per_class: int = 170  # the card's upload benchmark: images per class (test digits)
    ema_decay: float = 0.999  # the weight average (training.averaging), horizon ~1,000 steps
    validate_last: int = 10  # epochs validated (and so candidates), the last ones: ~18 s each


@dataclass
class Optimiser:
    """What one training step moves: the optimiser, its schedule, and the weight average."""

    opt: paddle.optimizer.Optimizer
    sched: paddle.optimizer.lr.LRScheduler
    average: WeightAverage

    @classmethod
    def new(cls, net: paddle.nn.Layer, cfg: Config, steps: int) -> Optimiser:
        """AdamW on a one-cycle schedule over `steps` steps, and the weight average."""
        sched = paddle.optimizer.lr.OneCycleLR(max_learning_rate=cfg.max_lr, total_steps=max(steps, 2))
        opt = paddle.optimizer.AdamW(sched, parameters=net.parameters(), weight_decay=cfg.weight_decay)
        return cls(opt, sched, WeightAverage(net, cfg.ema_decay))


def train_step(net: paddle.nn.Layer, o: Optimiser, x: paddle.Tensor, y: paddle.Tensor) -> tuple[float, int]:
    """One optimisation step on a batch: (mean loss, correct predictions)."""
    logits = net(x)  # (B, 10)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    o.opt.step()
    o.opt.clear_grad()
    o.sched.step()
    o.average.update(net)
    return float(loss), int((logits.argmax(axis=1) == y).sum())


def batch_images(train: Served, idx: np.ndarray, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """(B, 28, 28) uint8: each digit as an upload, in a style, or as MNIST, all in the served form."""
    draw = rng.uniform(size=len(idx))
    images = train.clean[idx]
    styled = (draw >= cfg.photo_share) & (draw < cfg.photo_share + (1 - cfg.photo_share) * cfg.styled_share)
    images[styled] = train.styled[idx[styled]]
    photo = draw < cfg.photo_share
    images[photo] = train.photo[idx[photo]]
    return images


def train_epoch(
    net: paddle.nn.Layer,
    o: Optimiser,
    data: Mnist,
    train: Served,
    cfg: Config,
    rng: np.random.Generator,
    epoch: int,
) -> tuple[float, float]:
    """One pass over the shuffled training digits; returns (mean loss, accuracy) on the augmented batches."""
    net.train()
    order = rng.permutation(len(data.x_train))
    steps = len(order) // cfg.batch_size  # drop the ragged last batch: BatchNorm dislikes tiny ones
    total_loss, total_correct, seen = 0.0, 0, 0
    bar = tqdm(range(steps), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=True, mininterval=1.0)
    for step in bar:
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        x = augment_batch(
            paddle.to_tensor(scale_pixels(batch_images(train, idx, cfg, rng))), cfg.augment, rng
        )
        loss, correct = train_step(net, o, x, paddle.to_tensor(data.y_train[idx]))
        total_loss += loss * len(idx)
        total_correct += correct
        seen += len(idx)
        if step % 20 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{total_correct / seen:.4f}", refresh=False)
    return total_loss / seen, total_correct / seen


def fit(
    net: DigitNet, data: Mnist, train: Served, val: Served, cfg: Config, rng: np.random.Generator
) -> tuple[dict[str, list[float | None]], Choice]:
    """Train for cfg.epochs, then restore the weights (an epoch's own or its average) that validate best.

    The score is the mean of the validation accuracy as MNIST and as uploads; a tie in it goes to
    the lower validation loss, and a full tie to the later, cooler epoch.
    """
    o = Optimiser.new(net, cfg, cfg.epochs * (len(data.x_train) // cfg.batch_size))
    history: dict[str, list[float | None]] = {k: [] for k in (*HISTORY, "epoch_s")}
    best_key, best_state, choice = (-1.0, 0.0), None, Choice()
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        trained = train_epoch(net, o, data, train, cfg, rng, epoch)
        history["epoch_s"].append(round(time.perf_counter() - start, 2))
        scores = validated_epoch(net, o, data, val, cfg, epoch)
        log_epoch(history, epoch, trained, scores)
        if scores is None:
            continue
        for weights, (loss, acc, photo_acc) in zip(("own", "averaged"), scores, strict=True):
            if ((acc + photo_acc) / 2, -loss) >= best_key:
                best_key = ((acc + photo_acc) / 2, -loss)
                best_state = o.average.state(net) if weights == "averaged" else state_copy(net)
                choice = Choice(epoch, weights)
    assert best_state is not None
    net.set_state_dict({k: paddle.to_tensor(v) for k, v in best_state.items()})
    return history, choice


def parse_args() -> tuple[Config, Path, Path | None]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--max-lr", type=float, default=d.max_lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--upload-bench-per-class",
        type=int,
        default=None,
        help=f"images per class of the card's upload benchmark (default {d.upload_bench_per_class}; "
        "quick mode: 2)",
    )
    p.add_argument(
        "--limit", type=parse_limit, default=None, help="quick mode: first N digits of every split"
    )
    p.add_argument("--out", type=Path, default=MODELS_DIR / "mnist", help="model folder to write")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local MNIST: the four IDX .gz files (train-images-idx3-ubyte.gz, ...) or mnist.pkl.gz",
    )
    a = p.parse_args()
    cfg = Config(
        epochs=a.epochs,
        batch_size=a.batch_size,
        max_lr=a.max_lr,
        seed=a.seed,
        limit=a.limit,
        upload_bench_per_class=a.upload_bench_per_class or (2 if a.limit else d.upload_bench_per_class),
    )
    return cfg, a.out, a.data_dir


def served_splits(data: Mnist, seed: int) -> tuple[Mnist, Served, Served]:
    """The data with every split in the service's MNIST form, and the train and val uploads."""
    start = time.perf_counter()
    train = served(data.x_train, data.y_train, seed, "train")
    val = served(data.x_val, data.y_val, seed + 1, "val")
    test = served(data.x_test, data.y_test, seed + 2, "test")
    print(
        "served forms (prepare_upload of every digit, and of each as a photo): "
        f"{time.perf_counter() - start:.0f} s"
    )
    forms = Mnist(train.clean, data.y_train, val.clean, data.y_val, test.clean, data.y_test, data.info)
    return forms, train, val


def main() -> None:
    cfg, out, data_dir = parse_args()
    start = time.perf_counter()
    rng = seed_everything(cfg.seed)
    raw = load_mnist(data_dir).first(cfg.limit)
    print(
        f"MNIST: {len(raw.x_train)} train / {len(raw.x_val)} val / {len(raw.x_test)} test digits; "
        f"augment: {describe(cfg.augment)}; {cfg.photo_share:.0%} of each batch as uploads"
    )
    data, train, val = served_splits(raw, cfg.seed)
    net = DigitNet(**cfg.network)
    history, choice = fit(net, data, train, val, cfg, rng)
    metrics, temperature = test_metrics(net, data, val, cfg)
    metrics["test_accuracy_raw_digits"] = evaluate(net, raw.x_test, raw.y_test, cfg)[1]
    uploads = upload_benchmark(net, raw, cfg, temperature)
    metrics["upload_benchmark"] = uploads
    out.mkdir(parents=True, exist_ok=True)
    plot_loss_and_accuracy(out / "curves.png", history)
    plot_confusion(out / "confusion.png", np.asarray(metrics["confusion_matrix"]), "MNIST test confusion")
    wall = time.perf_counter() - start
    card = build_card(cfg, data, metrics, temperature, history, choice, wall)
    write_model_folder(out, net, card)
    size_mb = (out / PARAMS_NAME).stat().st_size / 1e6
    print(
        f"test accuracy {metrics['test_accuracy']:.4%} (target >= {TARGET_ACCURACY:.1%}); "
        f"val {metrics['val_accuracy']:.4%}; best epoch {choice.epoch} ({choice.weights} weights)"
    )
    print(f"ECE (15 bins) {metrics['ece_before']:.4f} -> {metrics['ece_after']:.4f} at T = {temperature:.3f}")
    for name, r in uploads["classes"].items():
        print(f"  uploads {name:<17} accuracy {r['accuracy']:.4f}  ECE {r['ece']:.4f}  (n={r['n']})")
    print(
        f"params file {size_mb:.2f} MB (target <= {TARGET_PARAMS_MB:g} MB); "
        f"wall time {wall:.0f} s (target <= {TARGET_WALL_S} s); wrote {out}"
    )


if __name__ == "__main__":
    main()
