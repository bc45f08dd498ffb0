"""Ruled and squared paper: thin straight lines that cross most of the frame, found and cleared
(a printed box's outline is `app.predictors.outlines`'s).

Part of the digit-versus-frame step of `app.predictors.ink`, which mends the strokes a cleared line
cut.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.paper import block_max

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
MAX_TILT = np.tan(np.deg2rad(12.0))  # ruled lines are looked for at every slope up to this (a photo's tilt)
# ... and up to 45 degrees (a sheet turned under the phone) around the slopes where lines show on the
# mask shrunk up to COARSE times, to no less than COARSE_SIDE px (squared paper's lines stay apart):
# a look at every slope up to 45 degrees cost 1.7 times a 1000x1000 JPEG's preprocessing, this 1.07
COARSE, COARSE_SIDE = 4, 64
CHORD_MIN = 0.25  # a line's stretch inside the frame shorter than this of its width is not judged
FAMILY = 0.05  # a line steeper than MAX_TILT counts if another lies within this slope (3 degrees) of it
PROJECT_CHUNK = 1_000_000  # pixel-slopes projected at once (memory: 8 bytes each, twice)


def ruled_lines(mask: Mask) -> list[Line]:
    """The thin lines that cross most of the frame (ruled or squared paper), each as the rows and
    columns of its pixels in the mask and each pixel's place along it (its column, or row if upright).

    For slopes up to MAX_TILT, in steps that move a line's ends by 1.5 px, and up to 45 degrees near
    the slopes where a shrunk copy of the mask shows a line (`_slopes`), the ink pixels are counted
    along lines of that slope through the frame's centre (a projection; each count over 3 neighbouring
    lines, so that a line between two steps is still whole). A thin peak of the counts, at most
    RULED_THICK of the frame thick and holding ink along RULED_SPAN of its width, whose pixels reach
    across RULED_SPAN of it and run off one side (`_reach`), is a ruled line: each is cleared
    at the one slope that fits it best. A line steeper than MAX_TILT is measured on its stretch
    inside the frame instead of the width, and counts only beside another of its slope (`_in_family`).
    Then the same for columns.

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
            lines = _ruled_pixels(view, rows, cols - w / 2, _slopes(view, upright=axis == 1))
            found += [(axis, rows[line], cols[line]) for line in lines]
    if len(found) == 1:
        axis, _, cols = found[0]
        if cols.size == 0 or cols.min() > 0 or cols.max() < mask.shape[1 - axis] - 1:
            return []  # a lone stroke ending on paper
    return [(r, c, c) if axis == 0 else (c, r, c) for axis, r, c in found if r.size]  # view to mask


def _slopes(view: Mask, upright: bool) -> npt.NDArray[np.float64]:
    """The slopes to count `view`'s pixels along: every step (a line's ends moved 1.5 px) up to
    MAX_TILT, and the steps within a coarse step of each slope up to 45 degrees where the view shrunk
    k times (a pixel where any of its k x k had ink) holds a thin peak as long as a line's. Columns
    (`upright`) stop short of 45 degrees: a line at 45 degrees is found once, as a row."""
    h, w = view.shape
    step = 3.0 / w
    near = np.arange(-MAX_TILT, MAX_TILT + 1e-9, step)
    k = int(np.clip(min(h, w) // COARSE_SIDE, 1, COARSE))
    hs, ws = h // k, w // k
    small = block_max(view[: hs * k, : ws * k], k)  # whole blocks only
    rows, cols = np.nonzero(small)
    if rows.size < RULED_SPAN * ws:
        return near
    steep = np.arange(MAX_TILT, 1.0 - (step if upright else -1e-9), 3.0 / ws)
    steep = np.concatenate((-steep[::-1], steep))
    excess, _ = _projections(rows, cols - ws / 2, steep, (hs, ws))
    seen = steep[excess.max(axis=1) >= RULED_SPAN * ws]
    if seen.size == 0:
        return near
    around = np.arange(-k, k + 1) * step
    extra = (seen[:, None] + around[None, :]).ravel()
    extra = extra[(np.abs(extra) > MAX_TILT) & (np.abs(extra) < (1.0 if upright else 1.0 + 1e-9))]
    return np.unique(np.concatenate((near, extra)))


def _ruled_pixels(
    view: Mask, rows: npt.NDArray[np.intp], x: npt.NDArray[np.float64], slopes: npt.NDArray[np.float64]
) -> list[Mask]:
    """Which of the ink pixels (rows, x from the centre) of `view` lie on each ruled line, of the slopes.

    Lines up to MAX_TILT are found first, then steeper ones rising, then falling, each group apart:
    a squared sheet turned 45 degrees has its two families at slopes +1 and -1, which would hide each
    other where they meet in the projection. A steep line mostly on one found already is left out."""
    h, w = view.shape
    excess, offset = _projections(rows, x, slopes, (h, w))
    ends = _chords(slopes, excess.shape[1], offset, h, w)  # (2, slopes, lines): x of each chord's ends
    length = ends[1] - ends[0]
    fill = np.where(length >= CHORD_MIN * w, excess / (RULED_SPAN * np.maximum(length, 1.0)), 0.0)
    found: list[tuple[float, Mask]] = []
    taken = np.zeros(rows.size, bool)
    for group in (np.abs(slopes) <= MAX_TILT, slopes > MAX_TILT, slopes < -MAX_TILT):
        members = np.flatnonzero(group)
        if members.size == 0:
            continue
        best = fill[members].max(axis=0)
        runs, n = ndimage.label(best >= 1.0)
        for run in ndimage.find_objects(runs)[:n]:
            i = run[0].start + int(np.argmax(best[run]))  # the line's centre, and its best slope
            k = int(members[np.argmax(fill[members, i])])
            steep = abs(slopes[k]) > MAX_TILT
            if steep and any(abs(s - slopes[k]) <= FAMILY for s, _ in found if abs(s) <= MAX_TILT):
                continue  # the corners of a sheet's lines up to MAX_TILT: left, as they always were
            line = _line(view, rows, x, float(slopes[k]), fill[k] >= 1.0, (i, offset), ends[:, k, i])
            if line is not None and not (
                steep and 2 * np.count_nonzero(line & taken) > np.count_nonzero(line)
            ):
                found.append((float(slopes[k]), line))
                taken |= line
    return [line for slope, line in found if abs(slope) <= MAX_TILT or _in_family(slope, found)]


def _line(
    view: Mask,
    rows: npt.NDArray[np.intp],
    x: npt.NDArray[np.float64],
    slope: float,
    thick: npt.NDArray[np.bool_],
    at: tuple[int, int],
    ends: npt.NDArray[np.float64],
) -> Mask | None:
    """The pixels of the line of `slope` whose peak (`thick`: the lines over the threshold) holds
    line `at[0]` (less the offset `at[1]`), if it is a ruled line; its chord runs between `ends`."""
    i, offset = at
    lo, hi = i, i
    while lo > 0 and thick[lo - 1]:
        lo -= 1
    while hi + 1 < len(thick) and thick[hi + 1]:
        hi += 1
    index = np.rint(rows + slope * x).astype(np.int64) + offset
    on_line = (index >= lo - 1) & (index <= hi + 1)
    # The count above adds up three lines' pixels, so a short thick stroke reaches it too (an
    # upright 1 a fifth of the frame long), and a tightly cropped digit's bar crosses most of
    # the frame (a 4's, a 2's foot). A ruled line also reaches across RULED_SPAN of its chord
    # and runs off the frame at one end at least (the other may end at the paper's edge).
    # Where the band runs through a solid region (a strip of desk or table along a side), or
    # through texture (a desk's grain), that is not the line's reach.
    d = hi - lo + 3
    solid = _solid(view, rows[on_line], x[on_line], d)
    along = x - (ends[0] + ends[1]) / 2  # x from the chord's centre
    chord = max(2, round(float(ends[1] - ends[0])))
    beside = [along[(index >= lo - 1 + s) & (index <= hi + 1 + s)] for s in (-d, d)]
    if _reach(along[on_line][~solid], chord, beside):
        return _from_sides(along, on_line, chord)
    return None


def _in_family(slope: float, lines: list[tuple[float, Mask]]) -> bool:
    """Whether another of the lines lies within FAMILY of `slope`: a turned sheet shows its lines
    side by side, while a digit's steep stroke running off the frame (a tight crop's 7) is alone."""
    return sum(abs(other - slope) <= FAMILY for other, _ in lines) >= 2


def _chords(slopes: npt.NDArray[np.float64], n: int, offset: int, h: int, w: int) -> npt.NDArray[np.float64]:
    """(2, slopes, n): the x (from the centre) where each line (row + slope * x = index - offset)
    enters and leaves the h x w frame, at rows -0.5 and h - 0.5 (both ends equal where it misses the
    frame). A line up to MAX_TILT is judged on the frame's whole width, as it always was."""
    c = np.arange(n, dtype=np.float64)[None, :] - offset
    s = np.where(np.abs(slopes) <= MAX_TILT, np.inf, slopes)[:, None]  # inf: across the whole width
    top, bottom = (c + 0.5) / s, (c - h + 0.5) / s  # where it crosses the first and last row
    lo = np.clip(np.minimum(top, bottom), -w / 2, w / 2)
    hi = np.clip(np.maximum(top, bottom), -w / 2, w / 2)
    flat = np.isinf(s)
    return np.stack((np.where(flat, -w / 2, lo), np.where(flat, w / 2, hi)))


def _projections(
    rows: npt.NDArray[np.intp],
    x: npt.NDArray[np.float64],
    slopes: npt.NDArray[np.float64],
    shape: tuple[int, int],
) -> tuple[npt.NDArray[np.int64], int]:
    """For each slope, the count of ink pixels (rows, x from the centre) of a frame of `shape` on each
    line of that slope (row + slope * x, shifted by the offset returned with the counts, so that every
    line through the frame has an index), over 3 neighbouring lines, less its grey opening a band
    2 * RULED_THICK of the height wide: a line is a thin peak of the projection above the rows around
    it (a top-hat), so the rows that cross the digit, or the other direction's lines, are not taken
    for one.

    The slopes are projected together, PROJECT_CHUNK pixel-slopes at a time, not one call per slope:
    the whole ruled step then takes 5.2 ms instead of 6.2 per analysed upload up to 12 degrees."""
    h, w = shape
    band = max(5, int(2 * RULED_THICK * h) | 1)
    offset = int(np.ceil(np.abs(slopes).max() * w / 2)) + 2
    n = h + 2 * offset
    out = np.empty((len(slopes), n), np.int64)
    step = max(1, PROJECT_CHUNK // max(rows.size, 1))
    for start in range(0, len(slopes), step):
        chunk = slopes[start : start + step]
        index = np.rint(rows[None, :] + chunk[:, None] * x[None, :]).astype(np.int64) + offset
        index += (np.arange(len(chunk)) * n)[:, None]
        counts = np.bincount(index.ravel(), minlength=len(chunk) * n).reshape(len(chunk), n)
        counts = counts + np.roll(counts, 1, axis=1) + np.roll(counts, -1, axis=1)
        out[start : start + step] = counts - ndimage.grey_opening(counts, size=(1, band), mode="nearest")
    return out, offset


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
