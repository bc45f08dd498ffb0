"""Ruled and squared paper: thin straight lines that cross most of the frame, found and cleared
(a printed box's outline is `app.predictors.outlines`'s).

Part of the digit-versus-frame step of `app.predictors.ink`, which mends the strokes a cleared line
cut.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Mask = npt.NDArray[np.bool_]
Line = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]  # rows, columns, along

RULED_MIN_SIDE = 64  # smaller pictures are not photos of ruled paper
# A ruled line: a band at most RULED_THICK of the frame thick, holding ink along RULED_SPAN of it
# (a digit's long stroke is thicker, or shorter: a tight crop's 1 is about a tenth of the width).
RULED_SPAN, RULED_THICK = 0.6, 0.02
RULED_EDGE, RULED_RUN = 0.04, 3  # ... and runs off a side: inks half of each of its last 3 x 4 %
TEXTURE_MARGIN = 0.3  # ... more than a band beside it does there (a desk's grain inks them alike)
RULED_GAP = 0.03  # ... and is cleared as far as it is inked from a side, across gaps this short
LINE_MEND = 3  # px: a cleared line's pixels this near the remaining ink are put back (the crossing)
MAX_TILT = np.tan(np.deg2rad(12.0))  # ruled lines are looked for up to this slope (a photo's tilt)
PROJECT_CHUNK = 1_000_000  # pixel-slopes projected at once (memory: 8 bytes each, twice)


def ruled_lines(mask: Mask) -> list[Line]:
    """The thin lines that cross most of the frame (ruled or squared paper), each as the rows and
    columns of its pixels in the mask and each pixel's place along it (its column, or row if upright).

    For slopes up to MAX_TILT, in steps that move a line's ends by 1.5 px, the ink pixels are counted
    along lines of that slope through the frame's centre (a projection; each count over 3 neighbouring
    lines, so that a line between two steps is still whole). A thin peak of the counts, at most
    RULED_THICK of the frame thick and holding ink along RULED_SPAN of its width, whose pixels reach
    across RULED_SPAN of it and run off one side (`_reach`), is a ruled line: each is cleared
    at the one slope that fits it best. Then the same for columns.

    A lone line, with no other in either direction, that runs off one side only and ends on paper
    inside the frame is kept: ruled paper shows several lines, and a lone one ending on paper is a
    tightly cropped digit's stem (a 4's, a 9's), not a line printed across a sheet.
    """
    if min(mask.shape) < RULED_MIN_SIDE:
        return []
    # Horizontal lines, then vertical ones (as horizontal lines of the transpose), both found in the
    # mask as it came: clearing one direction's lines first would cut gaps in the other's.
    found = []
    for axis in (0, 1):
        view = mask if axis == 0 else mask.T
        rows, cols = np.nonzero(view)
        w = view.shape[1]
        if rows.size >= RULED_SPAN * w:
            found += [(axis, rows[line], cols[line]) for line in _ruled_pixels(view, rows, cols - w / 2)]
    if len(found) == 1:
        axis, _, cols = found[0]
        if cols.size == 0 or cols.min() > 0 or cols.max() < mask.shape[1 - axis] - 1:
            return []  # a lone stroke ending on paper
    return [(r, c, c) if axis == 0 else (c, r, c) for axis, r, c in found if r.size]  # view to mask


def _ruled_pixels(view: Mask, rows: npt.NDArray[np.intp], x: npt.NDArray[np.float64]) -> list[Mask]:
    """Which of the ink pixels (rows, x from the centre) of `view` lie on each ruled line."""
    h, w = view.shape
    band = max(5, int(2 * RULED_THICK * h) | 1)
    offset = int(np.ceil(MAX_TILT * w / 2)) + 2
    slopes = np.arange(-MAX_TILT, MAX_TILT + 1e-9, 3.0 / w)
    excess = _projections(rows, x, slopes, h + 2 * offset, offset, band)
    best = excess.max(axis=0)
    runs, n = ndimage.label(best >= RULED_SPAN * w)
    lines = []
    for run in ndimage.find_objects(runs)[:n]:
        i = run[0].start + int(np.argmax(best[run]))  # the line's centre, and its best slope
        k = int(np.argmax(excess[:, i]))
        thick = excess[k] >= RULED_SPAN * w
        lo, hi = i, i
        while lo > 0 and thick[lo - 1]:
            lo -= 1
        while hi + 1 < len(thick) and thick[hi + 1]:
            hi += 1
        index = np.rint(rows + slopes[k] * x).astype(np.int64) + offset
        on_line = (index >= lo - 1) & (index <= hi + 1)
        # The count above adds up three lines' pixels, so a short thick stroke reaches it too (an
        # upright 1 a fifth of the frame long), and a tightly cropped digit's bar crosses most of
        # the frame (a 4's, a 2's foot). A ruled line also reaches across RULED_SPAN of the frame
        # and runs off it on one side at least (the other may end at the paper's edge).
        # Where the band runs through a solid region (a strip of desk or table along a side), or
        # through texture (a desk's grain), that is not the line's reach.
        d = hi - lo + 3
        solid = _solid(view, rows[on_line], x[on_line], d)
        beside = [x[(index >= lo - 1 + s) & (index <= hi + 1 + s)] for s in (-d, d)]
        if _reach(x[on_line][~solid], w, beside):
            lines.append(_from_sides(x, on_line, w))
    return lines


def _projections(
    rows: npt.NDArray[np.intp],
    x: npt.NDArray[np.float64],
    slopes: npt.NDArray[np.float64],
    n: int,
    offset: int,
    band: int,
) -> npt.NDArray[np.int64]:
    """For each slope, the count of ink pixels (rows, x from the centre) on each of the `n` lines of that
    slope (row + slope * x, shifted by `offset`), over 3 neighbouring lines, less its grey opening
    `band` lines wide: a line is a thin peak of the projection above the rows around it (a top-hat), so
    the rows that cross the digit, or the other direction's lines, are not taken for one.

    The slopes are projected together, PROJECT_CHUNK pixel-slopes at a time, not one call per slope:
    the whole ruled step then takes 5.2 ms instead of 6.2 per analysed upload up to 12 degrees."""
    out = np.empty((len(slopes), n), np.int64)
    step = max(1, PROJECT_CHUNK // max(rows.size, 1))
    for start in range(0, len(slopes), step):
        chunk = slopes[start : start + step]
        index = np.rint(rows[None, :] + chunk[:, None] * x[None, :]).astype(np.int64) + offset
        index += (np.arange(len(chunk)) * n)[:, None]
        counts = np.bincount(index.ravel(), minlength=len(chunk) * n).reshape(len(chunk), n)
        counts = counts + np.roll(counts, 1, axis=1) + np.roll(counts, -1, axis=1)
        out[start : start + step] = counts - ndimage.grey_opening(counts, size=(1, band), mode="nearest")
    return out


def _from_sides(x: npt.NDArray[np.float64], on_line: Mask, w: int) -> Mask:
    """Which of the pixels (x from the centre) lie on a line (those `on_line`) and on its run of
    inked columns from a side of the frame, across gaps of at most RULED_GAP of the width (the sides
    count as ink). A ruled line is inked all along; a desk's streaks on both sides of a small sheet
    are not, and the digit's bar between them, in line with them, is not part of them."""
    inked = np.concatenate(([-1], np.flatnonzero(_inked_columns(x[on_line], w)), [w]))
    breaks = np.flatnonzero(np.diff(inked) - 1 > max(1, round(RULED_GAP * w)))  # gaps too long
    if breaks.size == 0:
        return on_line
    cols = _columns(x, w)
    return on_line & ((cols <= inked[breaks[0]]) | (cols >= inked[breaks[-1] + 1]))


def _solid(view: Mask, rows: npt.NDArray[np.intp], x: npt.NDArray[np.float64], d: int) -> Mask:
    """Which pixels (rows, x from the centre) have ink at the four diagonal points `d` away: inside a
    solid region, where a line crossing theirs would leave those points paper."""
    h, w = view.shape
    cols = (x + w / 2).astype(np.int64)
    solid = np.ones(rows.size, bool)
    for dy, dx in ((-d, -d), (-d, d), (d, -d), (d, d)):
        solid &= view[np.clip(rows + dy, 0, h - 1), np.clip(cols + dx, 0, w - 1)]
    return solid


def _reach(along: npt.NDArray[np.float64], w: int, beside: list[npt.NDArray[np.float64]]) -> bool:
    """Whether a line's pixels (x from the centre) reach across RULED_SPAN of the width and off one side.

    Running off a side means ink in its last column and in half the columns of each of its last
    RULED_RUN stretches, RULED_EDGE long: a digit's stroke cropped tight ends inside the frame, and
    specks of grain beyond the end of a digit's bar do not carry it to the edge. Columns, not
    pixels, are counted, so that a thick stroke does not fill them. Those stretches must also ink
    TEXTURE_MARGIN of their columns more than the less inked of the two bands `beside` the line (x
    of their pixels) does there: a desk's grain inks every band round a line through it alike, while
    a line along the desk's edge has paper on one side.
    """
    if along.size == 0 or float(along.max() - along.min()) < RULED_SPAN * w:
        return False
    near = max(2, round(RULED_EDGE * w))
    line, *others = (_inked_columns(x, w) for x in (along, *beside))
    for flip in (False, True):
        side = (line[::-1] if flip else line)[: near * RULED_RUN]
        stretches = side[: side.size // near * near].reshape(-1, near).sum(axis=1)
        if not (side[0] and bool(np.all(stretches >= near / 2))):
            continue
        texture = min(float((o[::-1] if flip else o)[: side.size].mean()) for o in others)
        if float(side.mean()) - texture >= TEXTURE_MARGIN:
            return True
    return False


def _inked_columns(x: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.bool_]:
    """Which of the w columns hold at least one of the pixels (x from the centre)."""
    inked = np.zeros(w, bool)
    inked[_columns(x, w)] = True
    return inked


def _columns(x: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.int64]:
    """The column of each pixel (x from the centre), within the frame."""
    return np.clip((x + w / 2).astype(np.int64), 0, w - 1)
