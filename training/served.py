"""The training digits as the service sees them: every image through the service's own preprocessing.

Three arrays per split, computed once and cached (`.cache/data/derived/`, keyed by the code and
the seed that make them):

- `clean`: each MNIST digit sent as a PNG, brought to MNIST form by `prepare_upload`;
- `photo`: the same digit rendered as an upload (`training.photos`, a random effect, a small frame),
  then prepared the same way;
- `styled`: 1s and 7s with a flag or a bar (`training.styles`), prepared; other digits as `clean`.

No paddle here: the work runs in spawned processes, one per core.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from training.fetch import cache_dir
from training.photos import EFFECTS

PHOTO_EFFECTS = tuple(e for e in EFFECTS if e != "mnist_form")  # the clean share is MNIST form
TRAIN_FRAME = (64, 224)  # longer side of a training photo, px: small, so preparing it is cheap
MIN_SIMILARITY = 0.4  # a prepared photo less like its digit than this is replaced by the digit
STYLE_SHARE = 0.35  # of the 1s and 7s drawn in a style MNIST rarely has
SOURCES = (
    "training/photos.py",
    "training/marks.py",
    "training/styles.py",
    "training/served.py",
    "app/predictors/paper.py",
    "app/predictors/ink.py",
    "app/predictors/marks.py",
    "app/predictors/bars.py",
    "app/predictors/ruled.py",
    "app/predictors/outlines.py",
    "app/predictors/preprocess.py",
)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Served:
    """(N, 28, 28) uint8 arrays in MNIST form, as the service prepares them."""

    clean: np.ndarray
    photo: np.ndarray
    styled: np.ndarray


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _prepare(data: bytes, fallback: np.ndarray) -> np.ndarray:
    """The service's MNIST form of an upload; `fallback` where it refuses one (no ink found)."""
    from app.predictors.preprocess import prepare_upload

    try:
        return prepare_upload(data, 40_000_000)[0]
    except Exception:  # a render too faint to find: train on the clean digit instead
        return fallback


def _chunk(args: tuple[np.ndarray, np.ndarray, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker: one chunk of digits -> its clean, photo and styled MNIST forms."""
    from training.photos import render
    from training.styles import STYLES

    digits, labels, seed = args
    rng = np.random.default_rng(seed)
    clean = np.stack([_prepare(_png(d), d) for d in digits])
    photo, styled = np.empty_like(clean), clean.copy()
    for i, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        style = STYLES.get(int(label))
        source = digit
        if style is not None and rng.uniform() < STYLE_SHARE:
            source = style(digit, rng)
            styled[i] = _prepare(_png(source), clean[i])
        effect = PHOTO_EFFECTS[rng.integers(len(PHOTO_EFFECTS))]
        long_side = int(rng.integers(TRAIN_FRAME[0], TRAIN_FRAME[1] + 1))
        frame = (long_side, int(long_side * rng.uniform(0.6, 1.0)))
        photo[i] = _prepare(render(source, effect, rng, frame), styled[i])
        if _similarity(photo[i], styled[i]) < MIN_SIMILARITY:
            photo[i] = styled[i]  # a render the preprocessing could not recover: no label to learn from
    return clean, photo, styled


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 images' pixels."""
    x, y = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / max(1e-6, float(np.sqrt((x @ x) * (y @ y)))))


def cache_key(digits: np.ndarray, seed: int) -> str:
    """sha256 of the code that makes the arrays, the digits and the seed: a new key when any changes."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update((ROOT / source).read_bytes())
    digest.update(digits.tobytes())
    digest.update(str(seed).encode())
    return digest.hexdigest()[:16]


def served(digits: np.ndarray, labels: np.ndarray, seed: int, name: str) -> Served:
    """The three arrays for one split, from the cache or computed (in parallel) and cached."""
    path = cache_dir() / "derived" / f"mnist-{name}-{cache_key(digits, seed)}.npz"
    if path.exists():
        with np.load(path) as f:
            return Served(f["clean"], f["photo"], f["styled"])
    workers = max(1, min(os.cpu_count() or 1, 2))
    bounds = np.linspace(0, len(digits), max(2, len(digits) // 2000) + 1).astype(int)
    jobs = [
        (digits[a:b], labels[a:b], seed * 1000 + k) for k, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(_chunk, jobs))
    result = Served(*(np.concatenate([p[j] for p in parts]) for j in range(3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, clean=result.clean, photo=result.photo, styled=result.styled)
    return result
