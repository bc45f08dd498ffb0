"""Straight bars that enter the frame from its border: a pen, a table strip's edge, a narrow strip.

Part of the digit-versus-frame step of `app.predictors.ink`. A border object that touches the digit
is one connected mark with it, and when both are equally dark no threshold splits them. Its shape
does: where such a mark meets the border, a pen or a strip's edge continues inward as a straight
band as wide as its contact, and a digit's strokes do not stay straight and fully inked for long.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.paper import EIGHT, Grey
from app.predictors.ruled import Mask

Contact = tuple[tuple[float, float], tuple[float, float], float]  # centre, inward normal, length (px)
# The side facing each side's inward normal (sides: 0 top, 1 bottom, 2 left, 3 right)
OPPOSITE = {(1.0, 0.0): 1, (-1.0, 0.0): 0, (0.0, 1.0): 3, (0.0, -1.0): 2}

BAR_MIN_SIDE = 64  # smaller pictures (MNIST form, icons) are not photos with things at their border
MAX_CONTACT = 0.15  # of the shorter side: a longer contact is a strip lying along the border
CORNER = 0.03  # ... and reaches this near a corner (of the side's length)
ANGLES = np.deg2rad(np.arange(-45.0, 45.1, 2.5))  # a bar's direction, from the border's inward normal
FULL, GAP = 0.6, 5  # a band is inked while this fraction of it is ink, over GAP steps
BAR_LENGTH = 0.1  # of the shorter side: a bar is at least this long ...
BAR_ASPECT = 2.5  # ... and this many times longer than wide
STRIP_SMOOTH = 0.3  # of the side: the window of the running median of a strip's depth
LEVEL_CHANGE = 1.4  # a band whose mean ink changes by this factor has left the bar
KEEP = 0.2  # the mark without its bars keeps this fraction of what is not strip (else it is one bar)
STUB = 0.25  # pieces of it smaller than this fraction of the largest are the bar's stubs
WIDTH_QUANTILE = 0.95  # a part's stroke width: twice this quantile of its distances to the paper
FAT_STROKE = 0.06  # of the shorter side: a bar this thick may be a stroke of a digit cropped tight,
STROKE_SHARE = 0.5  # ... if thinner than the rest of its mark but at least this share of it
SAME_INK = 1.25  # ... and its mean ink within this factor of the rest's (a pen's ink is its own)


def without_border_bars(
    mask: Mask, labels: npt.NDArray[np.int32], ink: Grey, candidates: list[int], flat_paper: bool = False
) -> Mask:
    """The mask with the border bars of the marks `candidates` (labels touching the border) cleared.

    On flat paper (a drawing made on a screen) nothing lies across the border but what was drawn: a
    stroke drawn into the canvas's edge is the digit's. There only a bar that crosses the frame,
    from one side to another, is cut; strips along a side are cut as on a photo. A bar of a mark
    that lies along no side is left when the rest of the mark, not the bar, reaches the side facing
    the bar's: the digit fills the frame from side to side (a tight crop's stem), no pen lies there.
    Nor is a fat bar about as thick as the rest of its mark (`_fat_stroke`): a pen is thicker than
    the digit it lies against, and a thick digit cropped tight has bars of its own.
    """
    h, w = mask.shape
    if min(h, w) < BAR_MIN_SIDE:
        return mask
    out = mask
    boxes = ndimage.find_objects(labels)
    for label in candidates:
        rows, cols = boxes[label - 1]
        window = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
        mark = labels[window] == label
        along_sides, ends = _border_contacts(labels, label)
        strips = _strips(mark, along_sides)
        bars = strips.copy()
        for start, normal, width in ends:
            local = (start[0] - rows.start, start[1] - cols.start)
            bar = _bar(mark, ink[window], local, normal, width, min(h, w))
            touched, far = _touched(bar, window, (h, w)), OPPOSITE[normal]
            if not (along_sides or touched[far]) and _touched(mark & ~bar, window, (h, w))[far]:
                continue  # the rest, not the bar, reaches the far side: a digit cropped tight (a 9's stem)
            if _fat_stroke(bar, mark & ~bar & ~strips, ink[window], min(h, w)):
                continue  # as thick as a digit's filling the frame, and as the rest's: one of them
            if not flat_paper or sum(touched) >= 2:
                bars |= bar
        rest = _pieces_kept(mark & ~bars) if bars.any() else None
        if rest is not None and np.count_nonzero(rest) >= KEEP * np.count_nonzero(mark & ~strips):
            out = out.copy() if out is mask else out
            out[window] &= ~mark | rest
    return out


def _fat_stroke(bar: Mask, rest: Mask, ink: Grey, side: int) -> bool:
    """Whether the bar is a stroke of a digit cropped tight: at least FAT_STROKE of the frame's
    shorter side thick, thinner than the rest of its mark but at least STROKE_SHARE of it (a rest
    far thicker is no strokes: a shadow, a strip), and as dark, within SAME_INK (a pen is not)."""
    width = _width(bar)
    if width < FAT_STROKE * side or not rest.any():
        return False
    thick = _width(rest)
    level, rest_level = float(ink[bar].mean()), float(ink[rest].mean())
    similar = max(level, rest_level) < SAME_INK * min(level, rest_level)
    return similar and STROKE_SHARE * thick <= width < thick


def _width(part: Mask) -> float:
    """How thick the strokes of `part` are: twice the WIDTH_QUANTILE of its pixels' distances to the
    paper (its thickest strokes, not the junctions alone); 0 if it is empty."""
    if not part.any():
        return 0.0
    return 2.0 * float(np.percentile(ndimage.distance_transform_edt(part)[part], 100 * WIDTH_QUANTILE))


def _touched(part: Mask, window: tuple[slice, slice], shape: tuple[int, int]) -> tuple[bool, ...]:
    """Which of the frame's sides (top, bottom, left, right) `part` (a mask of the window `window` of
    the frame) touches."""
    rows, cols = window
    return (
        rows.start == 0 and bool(part[0].any()),
        rows.stop == shape[0] and bool(part[-1].any()),
        cols.start == 0 and bool(part[:, 0].any()),
        cols.stop == shape[1] and bool(part[:, -1].any()),
    )


def _pieces_kept(rest: Mask) -> Mask:
    """The pieces a cleared bar left, without the stubs: those under STUB of the largest one's pixels."""
    pieces, n = ndimage.label(rest, EIGHT)
    if n <= 1:
        return rest
    sizes = np.bincount(pieces.ravel())[1:]
    keep = np.flatnonzero(sizes >= STUB * sizes.max()) + 1
    return np.isin(pieces, keep)


def _strips(mark: Mask, sides: list[int]) -> Mask:
    """The part of the mark that is a strip lying along each of `sides`: its depth, position by position.

    At each position along the side, the strip's depth is the run of ink from the border inward,
    a running median over STRIP_SMOOTH of the side (a tilted edge changes it slowly; where the digit
    touches the strip, the run is longer for a short stretch only).
    """
    out = np.zeros_like(mark)
    for side in sides:
        view = (mark, mark[::-1], mark.T, mark.T[::-1])[side]
        target = (out, out[::-1], out.T, out.T[::-1])[side]
        depth = np.where(view.all(axis=0), view.shape[0], np.argmin(view, axis=0))  # first paper row
        size = max(3, int(STRIP_SMOOTH * view.shape[1]) | 1)
        depth = ndimage.median_filter(depth, size=size, mode="nearest")
        target |= np.arange(view.shape[0])[:, None] < depth[None, :] + 2
    return out & mark


def _border_contacts(labels: npt.NDArray[np.int32], label: int) -> tuple[list[int], list[Contact]]:
    """Where the mark meets the frame's border: the sides it lies along (0 top, 1 bottom, 2 left,
    3 right; it touches them over more than MAX_CONTACT and up to a corner, a strip), and (centre,
    inward normal, length) of each run of its pixels on a side that is no longer (the end of a pen
    or an edge). A longer contact that stays clear of the corners is a digit cropped tight (a 7's
    bar, a 2's foot), not a strip of table: it is neither."""
    h, w = labels.shape
    limit = MAX_CONTACT * min(h, w)
    sides = (
        (labels[0] == label, lambda i: (0.0, i), (1.0, 0.0)),
        (labels[-1] == label, lambda i: (h - 1.0, i), (-1.0, 0.0)),
        (labels[:, 0] == label, lambda i: (i, 0.0), (0.0, 1.0)),
        (labels[:, -1] == label, lambda i: (i, w - 1.0), (0.0, -1.0)),
    )
    along_sides, ends = [], []
    for side, (line, point, normal) in enumerate(sides):
        reach = max(2, int(CORNER * line.size))
        if np.count_nonzero(line) > limit and (line[:reach].any() or line[-reach:].any()):
            along_sides.append(side)
        runs, n = ndimage.label(line)
        for run in ndimage.find_objects(runs)[:n]:
            length = run[0].stop - run[0].start
            if 2 <= length <= limit:
                ends.append((point((run[0].start + run[0].stop - 1) / 2), normal, float(length)))
    return along_sides, ends


def _bar(
    mark: Mask, ink: Grey, start: tuple[float, float], normal: tuple[float, float], contact: float, side: int
) -> Mask:
    """The pixels of the straightest inked band from `start` inward, or none if it is short.

    For each direction within 45 degrees of the normal, the band as wide as the contact (measured
    across that direction) is followed inward (`_band`). The band that holds the most ink, if long
    and narrow enough to be a bar, is the bar.
    """
    best_score, best_length, best = 0.0, 0, (0.0, 0.0, 1.0)
    for angle in ANGLES:
        c, s = float(np.cos(angle)), float(np.sin(angle))
        along = (normal[0] * c - normal[1] * s, normal[0] * s + normal[1] * c)
        width = max(2.0, contact * abs(c))
        length, score = _band(mark, ink, start, along, width)
        if score > best_score:
            best_score, best_length, best = score, length, (along[0], along[1], width)
    if best_length < max(BAR_LENGTH * side, BAR_ASPECT * best[2]):
        return np.zeros_like(mark)
    ys, xs = np.nonzero(mark)
    dy, dx = ys - start[0], xs - start[1]
    d = dy * best[0] + dx * best[1]
    across = -dy * best[1] + dx * best[0]
    bar = (d >= -1.0) & (d <= best_length + 1.0) & (np.abs(across) <= best[2] / 2 + 1.5)
    out = np.zeros_like(mark)
    out[ys[bar], xs[bar]] = True
    return out


def _band(
    mark: Mask, ink: Grey, start: tuple[float, float], along: tuple[float, float], width: float
) -> tuple[int, float]:
    """(length, ink held) of the band `width` wide from `start` along `along`, one pixel a step.

    It ends where less than FULL of it is ink (over GAP steps: a blurred edge has thin spots), or
    where its mean ink changes by LEVEL_CHANGE: there it has entered a stroke of another pen.
    """
    h, w = mark.shape
    steps = np.arange(0.0, float(np.hypot(h, w)))[:, None]
    offsets = np.arange(-width / 2, width / 2 + 0.5)[None, :]
    y = np.rint(start[0] + steps * along[0] - offsets * along[1]).astype(np.intp)
    x = np.rint(start[1] + steps * along[1] + offsets * along[0]).astype(np.intp)
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    seen = np.maximum(inside.sum(axis=1), 1)  # at the border a tilted band lies partly outside the frame
    inked = np.zeros(y.shape, bool)
    inked[inside] = mark[y[inside], x[inside]]
    cover = ndimage.uniform_filter1d(inked.sum(axis=1) / seen, GAP, mode="nearest")
    short = np.flatnonzero(cover < FULL)
    length = int(short[0]) if short.size else len(cover)
    if length > 6:
        values = np.zeros(y.shape, np.float32)
        values[inside] = ink[y[inside], x[inside]]
        level = values[:length].sum(axis=1) / seen[:length]
        base = max(float(np.median(level[: max(3, length // 3)])), 1.0)
        other = np.flatnonzero((level > LEVEL_CHANGE * base) | (level < base / LEVEL_CHANGE))
        length = int(other[0]) if other.size else length
    return length, float(cover[:length].sum())
