"""A printed box round the digit (a form's cell): its outline cleared where the digit touches it.

Part of the digit-versus-frame step of `app.predictors.ink`, beside `app.predictors.ruled`'s lines.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.paper import EIGHT
from app.predictors.ruled import LINE_MEND, RULED_MIN_SIDE, Mask

# A box's outline: a mark at least OUTLINE_SIZE of the frame's shorter side, whose outermost rows
# and columns ink OUTLINE_FULL of its width and height, in runs at most OUTLINE_THICK of its side
# thick (the rest holds the digit that touches the box: OUTLINE_INNER of the mark's pixels at least).
OUTLINE_SIZE, OUTLINE_FULL, OUTLINE_THICK, OUTLINE_INNER = 0.2, 0.85, 0.05, 0.1
OUTLINE_CRUMB = 0.02  # what is left of the mark in pieces this small (of the rest) goes with the outline


def without_box_outlines(mask: Mask, labels: npt.NDArray[np.int32]) -> Mask:
    """The mask with the outline of each printed box cleared where a digit touches it (one mark);
    `labels` are the mask's marks (8-connected), which the caller has already.

    A digit inside a box and clear of it is a mark of its own, and the box is junk (a frame); a
    digit that touches or crosses the box is one mark with it, and that mark, not the digit, was read.
    """
    h, w = mask.shape
    out = mask
    if min(h, w) < RULED_MIN_SIDE:
        return out
    for label, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None or min(s.stop - s.start for s in found) < OUTLINE_SIZE * min(h, w):
            continue
        mark = labels[found] == label
        outline = _outline(mark)
        if outline is not None:  # cleared, but where it crosses the digit's strokes
            crossing = ndimage.binary_dilation(mark & ~outline, EIGHT, LINE_MEND)
            out = out.copy() if out is mask else out
            out[found] &= ~(outline & ~crossing)
    return out


def _outline(mark: Mask) -> Mask | None:
    """The pixels of a box's four sides in `mark` (its bounding window), or None if it is no box
    with something inside: each side the outermost thin run of rows (columns) inked across it."""
    for axis in (0, 1):  # top and bottom first, then the sides between them; or the other way
        across = mark if axis == 0 else mark.T
        ends = _side_runs(across)
        if ends is None:
            continue
        (a0, a1), (b0, b1) = ends
        sides = _side_runs(across[a0:b1].T)  # inked across the box's height, not the digit's
        if sides is None:
            continue
        (c0, c1), (d0, d1) = sides
        outline = np.zeros_like(across)
        n, m = across.shape
        for lo, hi in ((a0, a1), (b0, b1)):  # each with the anti-aliased line beside it
            outline[max(lo - 1, 0) : min(hi + 1, n)] = True
        for lo, hi in ((c0, c1), (d0, d1)):
            outline[:, max(lo - 1, 0) : min(hi + 1, m)] = True
        outline = outline if axis == 0 else outline.T
        break
    else:
        return None
    rest = mark & ~outline
    inner = np.count_nonzero(rest)
    if inner < OUTLINE_INNER * np.count_nonzero(mark):
        return None
    # Crumbs of the outline left beside it (a corner's blur, JPEG ringing) go with it: mended back,
    # they would bring the box's pixels near them back too.
    parts, n = ndimage.label(rest, EIGHT)
    areas = np.bincount(parts.ravel(), minlength=n + 1)
    crumbs = (areas < OUTLINE_CRUMB * inner)[parts] & rest
    return (outline & mark) | crumbs


def _side_runs(across: Mask) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The outermost thin run of lines (rows of `across`) inked across OUTLINE_FULL of it, from each
    end, as (start, stop) pairs; None unless each lies in its third and is thin."""
    n = across.shape[0]
    full = np.count_nonzero(across, axis=1) >= OUTLINE_FULL * across.shape[1]
    runs = []
    for run in (full, full[::-1]):
        first = int(np.argmax(run))
        if not run[first] or first >= n // 3:
            return None
        end = n if run[first:].all() else first + int(np.argmin(run[first:]))
        if end - first > max(2, int(OUTLINE_THICK * n)):
            return None
        runs.append((first, end))
    (a0, a1), (b0, b1) = runs
    return (a0, a1), (n - b1, n - b0)
