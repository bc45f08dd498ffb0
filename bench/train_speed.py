"""Time the MNIST training input pipeline before and after tuning, per batch and over a short epoch.

"before" is the obvious per-sample pipeline (`naive_augment`: one PIL affine warp per digit, PIL
max/min filters for the bolder/thinner share, then stacking); "after" is `training.augment.augment_batch`
(one NumPy sampling grid and one `F.grid_sample` for the whole batch). Both feed the same training step
as `training.mnist.train_epoch` (forward, cross-entropy, backward, AdamW, one-cycle LR), at batch 128 on
the card's DigitNet. Threads are left as training leaves them. Prints a table and writes JSON.

    python -m bench.train_speed              # about 35 s on 2 cores
    python -m bench.train_speed --quick      # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OMP_THREADS_AT_START = os.environ.get("OMP_NUM_THREADS")  # importing paddle sets it to 1 when unset
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore", message="No ccache found")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from bench import backends  # noqa: E402
from models import MODELS_DIR  # noqa: E402
from models.artifacts import ModelFolderError, read_card  # noqa: E402
from models.features import IMAGE_SIZE, scale_pixels  # noqa: E402
from models.networks import build_network  # noqa: E402
from training.augment import AugmentConfig, augment_batch  # noqa: E402
from training.datasets import MNIST_SOURCE, VALIDATION_SIZE, load_mnist  # noqa: E402
from training.fetch import cache_dir  # noqa: E402
from training.mnist import Config, Optimiser, train_step  # noqa: E402

Pipeline = Callable[[np.ndarray, AugmentConfig, np.random.Generator], paddle.Tensor]
DEFAULT_OUT = Path("bench/results/train_speed.json")
TRAIN_DIGITS = 60_000 - VALIDATION_SIZE  # training/datasets.py: MNIST's 60,000 minus the held-out 10,000


def naive_augment(images_uint8: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """REFERENCE FOR "BEFORE": the per-sample PIL augmentation that augment_batch replaced.

    (N, 28, 28) uint8 -> (N, 28, 28) uint8. Same ranges and bolder/thinner shares as augment_batch,
    drawn per digit; the same kind of work, not the same pixels.
    """
    out = []
    for image in images_uint8:
        pil = Image.fromarray(image)
        warp = naive_affine(cfg, rng)
        pil = pil.transform(pil.size, Image.Transform.AFFINE, warp, Image.Resampling.BILINEAR, fillcolor=0)
        draw = rng.uniform()
        if draw < cfg.thicken_fraction:
            pil = pil.filter(ImageFilter.MaxFilter(3))
        elif draw > 1.0 - cfg.thin_fraction:
            pil = Image.blend(pil, pil.filter(ImageFilter.MinFilter(3)), 0.5)
        out.append(np.asarray(pil))
    return np.stack(out)


def naive_affine(cfg: AugmentConfig, rng: np.random.Generator) -> tuple[float, ...]:
    """PIL's (a, b, c, d, e, f): output pixel (x, y) samples input (ax + by + c, dx + ey + f)."""
    angle = math.radians(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    scale = rng.uniform(cfg.min_scale, cfg.max_scale)
    shear = rng.uniform(-cfg.max_shear, cfg.max_shear)
    dx, dy = rng.uniform(-cfg.max_shift_px, cfg.max_shift_px, 2)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale  # inverse map, as random_affine
    a, b, d, e = cos, -sin + shear * cos, sin, cos + shear * sin
    centre = IMAGE_SIZE / 2
    return a, b, centre + dx - (a + b) * centre, d, e, centre + dy - (d + e) * centre


def before_pipeline(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> paddle.Tensor:
    """uint8 (B, 28, 28) -> (B, 1, 28, 28) network input: PIL per digit, then scale and stack."""
    return paddle.to_tensor(scale_pixels(naive_augment(images, cfg, rng)))


def after_pipeline(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> paddle.Tensor:
    """uint8 (B, 28, 28) -> (B, 1, 28, 28) network input, exactly as train_epoch builds it."""
    return augment_batch(paddle.to_tensor(scale_pixels(images)), cfg, rng)


PIPELINES: dict[str, Pipeline] = {"before": before_pipeline, "after": after_pipeline}
DESCRIPTIONS = {
    "before": "per-sample PIL affine + Max/MinFilter (naive_augment)",
    "after": "batch grid_sample + max_pool (augment_batch)",
}


@dataclass
class Result:
    """One pipeline's numbers; times are medians unless named measured_/extrapolated_."""

    pipeline: str
    description: str
    augment_ms: float  # per batch of 128, uint8 -> network input
    step_ms: float  # forward + loss + backward + AdamW + LR step, per batch (same for both)
    measured_s: float  # N batches end to end: augment + step
    batches: int
    per_batch_ms: float
    extrapolated_epoch_s: float


def training_config() -> tuple[Config, str]:
    """training.mnist's Config, with the network and augmentation the shipped card records, if any."""
    cfg = Config()
    try:
        card = read_card(MODELS_DIR / "mnist")
    except ModelFolderError:
        return cfg, "training.mnist.Config defaults"
    cfg.network = dict(card["network"]["kwargs"])
    cfg.augment = AugmentConfig(**card["config"]["augment"])
    return cfg, "models/mnist/card.json"


def load_digits(synthetic: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 (N, 28, 28), labels int64 (N,), source): the cached MNIST train split, else strokes."""
    cached = cache_dir() / f"mnist-{MNIST_SOURCE.sha256[:16]}.npz"
    if not synthetic and cached.exists():
        data = load_mnist()
        return data.x_train, data.y_train, "mnist train split (cache)"
    images = np.zeros((1024, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for image in images:  # a few bright strokes in the central 20x20 box, like a hand-drawn digit
        pil = Image.fromarray(image)
        pen = ImageDraw.Draw(pil)
        for _ in range(3):
            ends = [float(v) for v in rng.uniform(4, 24, 4)]
            pen.line(ends, fill=int(rng.integers(180, 256)), width=int(rng.integers(2, 4)))
        image[:] = np.asarray(pil)
    return images, rng.integers(0, 10, len(images)), "synthetic strokes"


def batch_indices(n: int, batch: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` batches of shuffled indices, as train_epoch slices its permutation; cycles when n is short."""
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(count * batch / n))])
    return [order[i * batch : (i + 1) * batch] for i in range(count)]


def new_trainer(cfg: Config, steps: int) -> tuple[paddle.nn.Layer, Optimiser]:
    """A seeded network and its optimiser, as training.mnist.fit builds them."""
    paddle.seed(cfg.seed)
    net = build_network("DigitNet", cfg.network)
    net.train()
    return net, Optimiser.new(net, cfg, steps)


def time_augment(pipeline: Pipeline, images: np.ndarray, batches: list[np.ndarray], cfg: Config) -> float:
    """Median seconds per batch; the first batch is a warm-up."""
    rng = np.random.default_rng(cfg.seed)
    times = []
    for i, idx in enumerate(batches):
        start = time.perf_counter()
        pipeline(images[idx], cfg.augment, rng)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_steps(images: np.ndarray, labels: np.ndarray, batches: list[np.ndarray], cfg: Config) -> float:
    """Median seconds per training step on pre-augmented batches; the first step is a warm-up."""
    rng = np.random.default_rng(cfg.seed)
    inputs = [(after_pipeline(images[i], cfg.augment, rng), paddle.to_tensor(labels[i])) for i in batches]
    net, o = new_trainer(cfg, len(batches))
    times = []
    for i, (x, y) in enumerate(inputs):
        start = time.perf_counter()
        train_step(net, o, x, y)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_epoch(
    pipeline: Pipeline, images: np.ndarray, labels: np.ndarray, batches: list[np.ndarray], cfg: Config
) -> float:
    """Wall seconds for batches[1:] end to end (augment + step); batches[0] warms up, untimed."""
    rng = np.random.default_rng(cfg.seed)
    net, o = new_trainer(cfg, len(batches))
    start = 0.0
    for i, idx in enumerate(batches):
        if i == 1:
            start = time.perf_counter()
        x = pipeline(images[idx], cfg.augment, rng)
        train_step(net, o, x, paddle.to_tensor(labels[idx]))
    return time.perf_counter() - start


def print_table(results: list[Result], steps_per_epoch: int, ratios: dict[str, float]) -> None:
    n = results[0].batches
    print(f"| pipeline | augment ms/batch | step ms/batch | measured s ({n} batches) ", end="")
    print(f"| extrapolated s/epoch ({steps_per_epoch} batches) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.pipeline}: {r.description} | {r.augment_ms:.1f} | {r.step_ms:.1f} "
            f"| {r.measured_s:.2f} | {r.extrapolated_epoch_s:.0f} |"
        )
    print(
        f"| before / after | {ratios['augment']:.1f}x | | {ratios['epoch']:.2f}x | {ratios['epoch']:.2f}x |"
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on; training sets no thread count, so neither does this script."""
    return {
        **backends.machine(),
        "pillow": PIL.__version__,
        "omp_num_threads_at_start": OMP_THREADS_AT_START,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "paddle_num_threads": paddle.get_flags(["FLAGS_paddle_num_threads"])["FLAGS_paddle_num_threads"],
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }


def result_row(
    name: str, augment_s: float, step_s: float, measured_s: float, batches: int, steps_per_epoch: int
) -> Result:
    """Seconds in, the table's units out: ms per batch, s for the short and the extrapolated epoch."""
    per_batch = measured_s / batches
    return Result(
        pipeline=name,
        description=DESCRIPTIONS[name],
        augment_ms=round(augment_s * 1e3, 3),
        step_ms=round(step_s * 1e3, 3),
        measured_s=round(measured_s, 3),
        batches=batches,
        per_batch_ms=round(per_batch * 1e3, 3),
        extrapolated_epoch_s=round(per_batch * steps_per_epoch, 1),
    )


def measure(args: argparse.Namespace, cfg: Config) -> tuple[list[Result], dict[str, Any]]:
    """Every measurement, both pipelines; returns the rows and the run's settings."""
    rng = np.random.default_rng(cfg.seed)
    images, labels, source = load_digits(args.synthetic, rng)
    train_digits = len(images) if source.startswith("mnist") else TRAIN_DIGITS
    steps_per_epoch = train_digits // cfg.batch_size  # train_epoch drops the ragged last batch
    timing = batch_indices(len(images), cfg.batch_size, args.repeats + 1, rng)
    step_s = time_steps(images, labels, timing, cfg)
    results = []
    for name, pipeline in PIPELINES.items():
        augment_s = time_augment(pipeline, images, timing, cfg)
        epoch = batch_indices(len(images), cfg.batch_size, args.batches + 1, rng)
        measured = timed_epoch(pipeline, images, labels, epoch, cfg)
        results.append(result_row(name, augment_s, step_s, measured, args.batches, steps_per_epoch))
    settings = {
        "batch_size": cfg.batch_size,
        "batches": args.batches,
        "repeats": args.repeats,
        "data": source,
        "train_digits": train_digits,
        "steps_per_epoch": steps_per_epoch,
        "config_from": args.config_from,
        "network": cfg.network,
        "augment": asdict(cfg.augment),
    }
    return results, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 batches, 2 timing repeats (smoke test)")
    parser.add_argument("--batches", type=int, default=60, help="batches in the measured short epoch")
    parser.add_argument("--repeats", type=int, default=30, help="timed batches per median (after warm-up)")
    parser.add_argument("--synthetic", action="store_true", help="random strokes even if MNIST is cached")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.repeats = 3, 2
    if min(args.batches, args.repeats) < 1:
        parser.error("--batches and --repeats must be at least 1")
    cfg, args.config_from = training_config()
    host = machine()
    results, settings = measure(args, cfg)
    host["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    before, after = results
    ratios = {
        "augment": round(before.augment_ms / after.augment_ms, 2),
        "epoch": round(before.measured_s / after.measured_s, 3),
    }
    print_table(results, settings["steps_per_epoch"], ratios)
    report = {
        "machine": host,
        "settings": settings,
        "results": [asdict(r) for r in results],
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
