"""The fast separable max/min filter of the preprocessing equals the plain k - 1 shifts, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from app.predictors.paper import RAMP
from app.predictors.preprocess import _rank_filter, stroke_width


def reference(x: np.ndarray, k: int, reduce: np.ufunc) -> np.ndarray:
    """The obvious version: edge-pad, then reduce k - 1 shifted copies along each axis."""
    pad = k // 2
    for axis in (0, 1):
        widths = [(pad, pad) if a == axis else (0, 0) for a in (0, 1)]
        padded = np.moveaxis(np.pad(x, widths, mode="edge"), axis, 0)
        n = x.shape[axis]
        out = padded[:n].copy()
        for shift in range(1, k):
            reduce(out, padded[shift : shift + n], out=out)
        x = np.moveaxis(out, 0, axis)
    return x


@pytest.mark.parametrize("shape", [(28, 28), (96, 96), (60, 96), (96, 20), (5, 7), (1, 1), (3, 96)])
@pytest.mark.parametrize("k", [1, 3, 5, 9, 11, 33, 39])
@pytest.mark.parametrize("reduce", [np.maximum, np.minimum])
def test_rank_filter_equals_reference(shape: tuple[int, int], k: int, reduce: np.ufunc) -> None:
    x = (np.random.default_rng(k).random(shape) * 255).astype(np.float32)
    got = _rank_filter(x, k, reduce)
    want = reference(x, k, reduce)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.array_equal(got, want)


def test_rank_filter_known_values() -> None:
    x = np.zeros((5, 5), np.float32)
    x[2, 2] = 9.0
    assert np.array_equal(_rank_filter(x, 3, np.maximum), np.pad(np.full((3, 3), 9.0, np.float32), 1))
    assert np.array_equal(_rank_filter(x, 3, np.minimum), np.zeros((5, 5), np.float32))


def test_extended_edges_follow_a_ramp() -> None:
    ramp = np.tile(np.linspace(200.0, 150.0, 72, dtype=np.float32), (96, 1))  # light falling off
    closed = _rank_filter(_rank_filter(ramp, 15, np.maximum), 15, np.minimum, extend=True)
    assert np.abs(closed - ramp).max() < 1e-3  # repeated edges: flat over the last 7 px, 5 above
    opened = _rank_filter(_rank_filter(ramp, 15, np.minimum), 15, np.maximum, extend=True)
    assert np.abs(opened - ramp).max() < 1e-3
    step = np.full((40, 40), 200.0, np.float32)
    step[:, -3:] = 60.0  # a dark strip at the edge
    padded_min = _rank_filter(step, 9, np.minimum, extend=True).min()
    assert padded_min >= 60.0 - 4 * RAMP * 255.0 / 40 - 1e-3  # no deeper than the steepest ramp allows
    assert padded_min < 60.0


def test_stroke_width_of_a_bar() -> None:
    ink = np.zeros((40, 40), np.float32)
    ink[10:30, 18:22] = 255.0  # a 4 px wide, 20 px tall bar: area 80, boundary 2*(20+4)-4 = 44 px
    assert stroke_width(ink) == pytest.approx(2.0 * 80 / 44)
