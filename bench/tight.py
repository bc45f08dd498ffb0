"""MNIST digits cropped to fill the frame: their own thick strokes enlarged, read in-process.

    python -m bench.tight                      # 1,800 validation digits, the committed models/mnist
    python -m bench.tight --split test         # the test digits (report only; tune on validation)
    python -m bench.tight --model /tmp/m --count 600

Each digit's ink box (pixels over 30) is cut out of the 28x28 image and enlarged, keeping its
aspect, until it is 85-100 % of the height of a 300x400 or 400x300 frame (alternately), at a random
place in it; the strokes, about 12 % of the digit's height in MNIST, stay that thick, so the digit
touches the frame's edges with wide contacts, as a marker drawing cropped tight does. Dark ink
(15-60) on paper (200-245) that is even, dims across the frame to 50-80 %, or carries pixel grain
of standard deviation 8, in turn; JPEG at quality 85. Seeded; nothing is written to disk. Prints
the accuracy per paper and overall; every upload goes through the service's own `prepare_upload`
and the network, and a refusal counts as wrong.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from models import MODELS_DIR

PAPERS = ("even", "light", "grain")
FRAMES = ((400, 300), (300, 400))  # (width, height), alternately
HEIGHTS = (0.85, 1.0)  # the digit's box, of the frame's height


def tight_crop(digit: npt.NDArray[np.uint8], index: int, rng: np.random.Generator) -> bytes:
    """A JPEG of the digit (28x28, white on black) as dark ink enlarged to fill a frame; `index`
    picks the frame and the paper in turn."""
    ys, xs = np.nonzero(digit > 30)
    crop = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    w, h = FRAMES[index % 2]
    tall = int(rng.uniform(*HEIGHTS) * h)
    wide = min(w, max(4, int(crop.shape[1] * tall / crop.shape[0])))
    big = np.asarray(Image.fromarray(crop).resize((wide, tall), Image.Resampling.BICUBIC), np.float32)
    cover = np.zeros((h, w), np.float32)  # (H, W) ink coverage in [0, 1]
    top, left = int(rng.integers(0, h - tall + 1)), int(rng.integers(0, w - wide + 1))
    cover[top : top + tall, left : left + wide] = big / 255.0
    paper = np.full((h, w), rng.uniform(200, 245), np.float32)
    kind = PAPERS[index % 3]
    if kind == "light":
        paper *= np.linspace(1.0, rng.uniform(0.5, 0.8), w, dtype=np.float32)[None, :]
    elif kind == "grain":
        paper += rng.normal(0.0, 8.0, (h, w)).astype(np.float32)
    photo = paper * (1.0 - cover) + rng.uniform(15, 60) * cover
    buffer = io.BytesIO()
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def uploads(
    digits: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], count: int, seed: int
) -> Iterator[tuple[str, int, bytes]]:
    """(paper, label, JPEG) for the first `count` digits."""
    rng = np.random.default_rng(seed)
    for i in range(min(count, len(digits))):
        yield PAPERS[i % 3], int(labels[i]), tight_crop(digits[i], i, rng)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=MODELS_DIR / "mnist", help="model folder")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--count", type=int, default=1800)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--data-dir", type=Path, default=None, help="local MNIST copy (see training)")
    a = p.parse_args(argv)

    from models.artifacts import load_model
    from training.datasets import load_mnist
    from training.evaluate import mnist_forms, served_probabilities

    mnist = load_mnist(a.data_dir)
    digits, labels = (mnist.x_val, mnist.y_val) if a.split == "val" else (mnist.x_test, mnist.y_test)
    made = list(uploads(digits, labels, a.count, a.seed))
    forms, ok = mnist_forms([data for _, _, data in made])
    loaded = load_model(a.model)
    read = served_probabilities(loaded.network, forms, loaded.temperature).argmax(axis=1)  # as served
    right = (read == np.array([label for _, label, _ in made])) & np.array(ok)
    papers = np.array([paper for paper, _, _ in made])
    for paper in PAPERS:
        print(f"{paper:<8}{int((papers == paper).sum()):>6}{right[papers == paper].mean():>9.2%}")
    print(f"{'overall':<8}{len(made):>6}{right.mean():>9.2%}  ({a.split} digits, seed {a.seed})")


if __name__ == "__main__":
    main()
