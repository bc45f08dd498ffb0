"""Marks on the paper besides the digit, drawn in place on an (H, W, 3) sheet in 0..255.

Ruled or squared lines, something dark at the frame's border, a stray dot or dash: `training.photos`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]


def ruled_lines(sheet: Float, rng: np.random.Generator, squared: bool) -> None:
    """Pale ruled (or squared) lines across the whole sheet, in place; sometimes a red margin."""
    h, w = sheet.shape[:2]
    step = int(max(6, rng.uniform(0.05, 0.12) * max(h, w)))
    thick = max(1, round(max(h, w) / 400 * rng.uniform(0.6, 1.6)))
    colour = np.asarray([(150, 175, 225), (170, 170, 175), (120, 160, 210)][rng.integers(3)], np.float32)
    depth = rng.uniform(0.45, 0.9)
    for y in range(int(rng.integers(0, step)), h, step):
        sheet[y : y + thick] = sheet[y : y + thick] * (1 - depth) + colour * depth
    if squared:
        for x in range(int(rng.integers(0, step)), w, step):
            sheet[:, x : x + thick] = sheet[:, x : x + thick] * (1 - depth) + colour * depth
    elif rng.uniform() < 0.3:
        x = int(rng.uniform(0.05, 0.2) * w)
        sheet[:, x : x + thick] = sheet[:, x : x + thick] * 0.4 + np.asarray((220, 90, 90), np.float32) * 0.6


def border_object(sheet: Float, rng: np.random.Generator) -> None:
    """Something dark at the frame's border, in place: table strip, paper edge, dark corner or a pen."""
    h, w = sheet.shape[:2]
    kind = int(rng.integers(4))
    dark = np.asarray(rng.uniform(15, 110, 3), np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # a strip of table along one side, its edge slightly tilted
        depth = rng.uniform(0.04, 0.22) * (w if rng.uniform() < 0.5 else h)
        tilt = rng.uniform(-0.08, 0.08)
        side = int(rng.integers(4))
        d, other = [(x, y), (w - 1 - x, y), (y, x), (h - 1 - y, x)][side]
        mask = d + tilt * (other - other.mean()) < depth
    elif kind == 1:  # the paper ends: everything past a line near a corner is table
        a, b = rng.uniform(0.05, 0.3) * w, rng.uniform(0.05, 0.3) * h
        mask = x / a + y / b < 1.0
        mask = mask[:: [1, -1][rng.integers(2)], :: [1, -1][rng.integers(2)]]
    elif kind == 2:  # a dark, soft corner (a hand's or the phone's shadow)
        cy, cx = [0, h][rng.integers(2)], [0, w][rng.integers(2)]
        r = rng.uniform(0.15, 0.35) * max(h, w)
        shade = np.clip(1.0 - np.hypot(y - cy, x - cx) / r, 0, 1) ** 0.7
        sheet *= 1.0 - 0.8 * shade[..., None]
        return
    else:  # a pen lying across a border
        cy, cx = rng.uniform(0.1, 0.9) * h, [0.0, float(w)][rng.integers(2)]
        a = rng.uniform(-0.6, 0.6)
        along = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
        across = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
        mask = (np.abs(across) < rng.uniform(0.015, 0.04) * max(h, w)) & (
            np.abs(along) < rng.uniform(0.15, 0.35) * w
        )
    sheet[mask] = sheet[mask] * 0.15 + dark * 0.85


def stray_mark(sheet: Float, rng: np.random.Generator, avoid: tuple[int, int, int]) -> None:
    """A darker short mark (a dot, a dash) away from the digit at `avoid` = (top, left, side), in place."""
    h, w = sheet.shape[:2]
    top, left, side = avoid
    size = max(2, int(side * rng.uniform(0.05, 0.2)))
    for _ in range(20):
        y, x = int(rng.integers(0, max(1, h - size))), int(rng.integers(0, max(1, w - size)))
        if (
            y + size < top - side // 8
            or y > top + side + side // 8
            or x + size < left - side // 8
            or x > left + side + side // 8
        ):
            break
    else:
        return
    thin = max(1, size // int(rng.integers(1, 5)))
    sheet[y : y + thin, x : x + size] *= 0.15
