"""training.photos: the upload renders the training augments with and the upload benchmark sends."""

from __future__ import annotations

import numpy as np
import pytest

from app.predictors.preprocess import prepare_upload
from training.photos import EFFECTS, render


def bar() -> np.ndarray:
    """An upright stroke, 4 px wide and 18 tall, as MNIST draws a plain 1."""
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    return digit


def lean_deg(image: np.ndarray) -> float:
    """The angle of the ink's long axis from vertical, in degrees, from second moments."""
    y, x = np.mgrid[0:28, 0:28].astype(np.float64)
    w = image.astype(np.float64) / max(1.0, float(image.sum()))
    my, mx = (w * y).sum(), (w * x).sum()
    cyy, cxx, cxy = (w * (y - my) ** 2).sum(), (w * (x - mx) ** 2).sum(), (w * (y - my) * (x - mx)).sum()
    return float(np.degrees(0.5 * np.arctan2(2 * cxy, cyy - cxx)))


def served_lean(effect: str, seed: int) -> float:
    data = render(bar(), effect, np.random.default_rng(seed), (200, 150))
    return abs(lean_deg(prepare_upload(data, 40_000_000)[0]))


@pytest.mark.parametrize("seed", range(6))
def test_a_tilted_photo_turns_the_digit_10_to_35_degrees(seed: int) -> None:
    # the perspective and the 28x28 fit move the axis by a few degrees more
    assert 7.0 < served_lean("tilted_photo", seed) < 40.0


@pytest.mark.parametrize("effect", [e for e in EFFECTS if e != "tilted_photo"])
def test_other_effects_keep_the_digit_upright(effect: str) -> None:
    # the median of five: a border object that touches the digit can leave its edge on it (a known miss)
    assert float(np.median([served_lean(effect, seed) for seed in range(5)])) < 5.0
