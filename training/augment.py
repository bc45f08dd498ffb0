"""Digit augmentation on a whole batch at once: random affine warps and stroke thickness.

Works on scaled pixels (the output of `models.features.scale_pixels`). Scaling is an increasing
affine map of the pixel value, so bilinear warps with border padding and max/min filters give
exactly what they would give on raw pixels (MNIST's border is background).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F

from models.features import IMAGE_SIZE


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; each sample draws its own."""

    max_rotation_deg: float = 15.0
    min_scale: float = 0.88  # digit size relative to the 20x20 box the service also uses
    max_scale: float = 1.12
    max_shear: float = 0.15
    max_shift_px: float = 2.5
    thicken_fraction: float = 0.12  # share of the batch drawn bolder (3x3 dilation)
    thin_fraction: float = 0.12  # share drawn thinner (half-way blend with a 3x3 erosion)


def random_affine(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, 3) float32 maps from output to input coordinates in [-1, 1], as affine_grid takes."""
    angle = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg, n))
    scale = rng.uniform(cfg.min_scale, cfg.max_scale, n)
    shear = rng.uniform(-cfg.max_shear, cfg.max_shear, n)
    shift = rng.uniform(-cfg.max_shift_px, cfg.max_shift_px, (n, 2)) * (2.0 / IMAGE_SIZE)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale  # inverse map: sample from a smaller box
    theta = np.empty((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + shear * sin
    theta[:, :, 2] = shift
    return theta


# Pixel centres in [-1, 1] (align_corners=False), as homogeneous (28 * 28, 3) rows [x, y, 1].
_CENTRES = (np.arange(IMAGE_SIZE, dtype=np.float32) * 2 + 1) / IMAGE_SIZE - 1
_BASE_GRID = np.stack(
    [np.tile(_CENTRES, IMAGE_SIZE), np.repeat(_CENTRES, IMAGE_SIZE), np.ones(IMAGE_SIZE**2, np.float32)],
    axis=1,
)


def sampling_grid(theta: np.ndarray) -> np.ndarray:
    """(n, 2, 3) affine matrices -> (n, 28, 28, 2) grid_sample coordinates; F.affine_grid, but ~5x cheaper."""
    return np.matmul(_BASE_GRID, theta.transpose(0, 2, 1)).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 2)


def augment_batch(x: paddle.Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> paddle.Tensor:
    """(N, 1, 28, 28) scaled pixels -> the same shape, warped and with some strokes thickened or thinned."""
    n = int(x.shape[0])
    grid = paddle.to_tensor(sampling_grid(random_affine(n, cfg, rng)))
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    draw = rng.uniform(size=n)
    thick = np.flatnonzero(draw < cfg.thicken_fraction)
    thin = np.flatnonzero(draw > 1.0 - cfg.thin_fraction)
    if len(thick):  # filter only the chosen few, then put them back
        idx = paddle.to_tensor(thick)
        x = paddle.scatter(x, idx, F.max_pool2d(paddle.gather(x, idx), 3, stride=1, padding=1))
    if len(thin):
        idx = paddle.to_tensor(thin)
        chosen = paddle.gather(x, idx)
        eroded = -F.max_pool2d(-chosen, 3, stride=1, padding=1)
        x = paddle.scatter(x, idx, 0.5 * (chosen + eroded))
    return x


def describe(cfg: AugmentConfig) -> str:
    """One line for logs: the ranges in human units."""
    return (
        f"rotate ±{cfg.max_rotation_deg:g}°, scale {cfg.min_scale:g}-{cfg.max_scale:g}, "
        f"shear ±{math.degrees(math.atan(cfg.max_shear)):.0f}°, shift ±{cfg.max_shift_px:g} px, "
        f"thicker {cfg.thicken_fraction:.0%}, thinner {cfg.thin_fraction:.0%}"
    )
