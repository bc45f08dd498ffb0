"""Handwriting styles MNIST under-represents, drawn onto its own digits: the flagged 1, the crossed 7.

Transforms of MNIST digits (the data rule): a 1 gets the flag and sometimes the foot usual in
Europe, a 7 the bar across its stem. Drawn with a round pen at 4x and reduced, so the added
strokes are anti-aliased like MNIST's.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

Digit = npt.NDArray[np.uint8]
UP = 4  # drawing scale


def _strokes(digit: Digit, lines: list[tuple[float, float, float, float]], pen: float) -> Digit:
    """`digit` with straight strokes (x0, y0, x1, y1 in 28x28 pixels) of `pen` px added."""
    big = Image.fromarray(digit, "L").resize((28 * UP, 28 * UP), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(big)
    for x0, y0, x1, y1 in lines:
        draw.line([(x0 * UP, y0 * UP), (x1 * UP, y1 * UP)], fill=255, width=max(1, round(pen * UP)))
        for x, y in ((x0, y0), (x1, y1)):  # round caps
            r = pen * UP / 2
            draw.ellipse([x * UP - r, y * UP - r, x * UP + r, y * UP + r], fill=255)
    small = big.resize((28, 28), Image.Resampling.LANCZOS)
    return np.maximum(digit, np.asarray(small, np.uint8))


def _stem(digit: Digit, row: float) -> float | None:
    """The ink's centre column on `row` (28x28 pixels), or None when the row holds no ink."""
    r = int(np.clip(round(row), 0, 27))
    line = digit[r].astype(np.float32)
    return float((line * np.arange(28)).sum() / line.sum()) if line.sum() > 255 else None


def _extent(digit: Digit) -> tuple[int, int, float]:
    """(top row, bottom row, pen width in px) of the digit's ink."""
    rows = np.flatnonzero(digit.max(axis=1) > 127)
    ink = digit > 127
    pen = float(ink.sum() / max(1, len(rows)))  # a 1 or a 7's stem: pixels per row ~ the pen
    return int(rows[0]), int(rows[-1]), float(np.clip(pen, 1.5, 4.0))


def flagged_one(digit: Digit, rng: np.random.Generator) -> Digit:
    """A 1 with a flag from its top down to the left, and sometimes a foot."""
    top, bottom, pen = _extent(digit)
    x_top, x_bottom = _stem(digit, top + 1), _stem(digit, bottom - 1)
    if x_top is None or x_bottom is None:
        return digit
    height = bottom - top
    length = height * rng.uniform(0.25, 0.45)
    angle = np.deg2rad(rng.uniform(20, 55))  # below the horizontal, pointing left
    lines = [(x_top, top + 0.5, x_top - length * np.cos(angle), top + 0.5 + length * np.sin(angle))]
    if rng.uniform() < 0.5:
        half = height * rng.uniform(0.18, 0.3)
        lines.append((x_bottom - half, bottom - 0.5, x_bottom + half, bottom - 0.5))
    return _strokes(digit, lines, pen * rng.uniform(0.7, 1.0))


def crossed_seven(digit: Digit, rng: np.random.Generator) -> Digit:
    """A 7 with a short bar across the middle of its stem."""
    top, bottom, pen = _extent(digit)
    row = top + (bottom - top) * rng.uniform(0.45, 0.6)
    x = _stem(digit, row)
    if x is None:
        return digit
    half = (bottom - top) * rng.uniform(0.18, 0.3)
    tilt = rng.uniform(-0.15, 0.15) * half
    return _strokes(digit, [(x - half, row + tilt, x + half, row - tilt)], pen * rng.uniform(0.6, 0.9))


STYLES = {1: flagged_one, 7: crossed_seven}  # digit class -> its transform
