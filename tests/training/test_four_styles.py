"""`scripts/four_styles.py` splits 4s by whether their ink encloses a hole."""

from __future__ import annotations

import numpy as np

from scripts.four_styles import closed


def _drawn(lines: list[tuple[slice, slice]]) -> np.ndarray:
    digit = np.zeros((28, 28), np.uint8)
    for rows, cols in lines:
        digit[rows, cols] = 255
    return digit


def test_a_triangle_four_is_closed_and_an_open_one_is_not() -> None:
    right_stem = (slice(4, 24), slice(16, 18))
    bar = (slice(16, 18), slice(6, 22))
    left_stem = (slice(4, 17), slice(6, 8))
    top = (slice(4, 6), slice(6, 18))  # joins the two stems: the loop of a closed 4 (or a 9)
    assert not closed(_drawn([right_stem, bar, left_stem]))
    assert closed(_drawn([right_stem, bar, left_stem, top]))
    assert not closed(_drawn([right_stem, bar, left_stem, (slice(4, 6), slice(6, 9))]))  # a gap of 7 px
    assert not closed(np.zeros((28, 28), np.uint8))
