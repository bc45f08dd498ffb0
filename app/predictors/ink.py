"""Ink versus paper, and the digit versus the rest of the frame.

`ink_map` removes the paper (its level, shading and polarity); `digit_ink` decides per pixel what is
ink and keeps only the digit's connected marks: specks, border objects (table, paper edge, shadow,
dark corner) and ruled lines are dropped, paper becomes exactly 0, ink keeps its grey levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.bars import without_border_bars
from app.predictors.paper import EIGHT, Grey, Levels, levels, otsu
from app.predictors.ruled import LINE_MEND, Mask, without_box_outlines, without_ruled_lines

ANALYSIS_SIDE = 384  # larger pictures are analysed on a reduced copy at most this big
# A mark touching the border is not the digit when it touches it along this fraction of the shorter
# side, or when its box's centre lies outside the central 60% of the frame (CENTRAL on each side).
BORDER_CONTACT, CENTRAL = 0.12, 0.2
LINE_SPAN, LINE_THICK = 0.6, 0.035  # a mark this long (of the frame) and this thin is a ruled line
STRAIGHT = 0.1  # ... and, if it is clear of the border, this straight (`_straightness`)
SPECK_SIZE = 0.1  # ... unless all else is dots or marks this small (of its size): then it is a 1
BOX_SIZE, BOX_SIDE = 0.2, 0.85  # a mark this big (of the frame) that encloses, or inks this much of
BOX_INNER = 0.1  # each side of its box round, a mark with this fraction of its ink frames the digit
BOX_INNER_SIZE = 0.3  # ... and this big (of the framing mark's longer side): not a speck in a loop
NEAR = 0.2  # marks within this fraction of the digit's size from it are part of it (a 5's top)
PART_MASS = 0.02  # ... if they hold at least this fraction of its ink
PART_LEVEL = 2.5  # ... and their mean ink is within this factor of its own
SPAN = 0.9  # a mark this wide or tall (of the frame) reaches across it
SOLID_FILL = 0.7  # a squarish mark filling this much of its box is a dot or a blot
DASH = 3.0  # a mark this many times wider than tall is a dash or an underline, not a digit alone
SPECK_MASS = 0.005  # marks with less than this fraction of the heaviest one's ink are specks
RELATIVE = 0.12  # of the digit's strongest ink: weaker pixels are shading or texture, not strokes


def digit_ink(ink: Grey, flat_paper: bool = False) -> tuple[Grey, float] | None:
    """Ink with everything but the digit's marks set to 0, and the digit's ink peak; None if no digit.

    Pictures larger than ANALYSIS_SIDE are analysed on a block-max copy; the digit's marks found
    there, widened by one reduced pixel, select the full-size ink above its own low threshold.
    """
    h, w = ink.shape
    factor = -(-max(h, w) // ANALYSIS_SIDE)
    if factor == 1:
        found = select_digit(ink, flat_paper)
        if found is None:
            return None
        selected, lv = found
    else:
        small = _block_max(ink, factor)  # the max, not the mean: a hairline keeps its strength
        found = select_digit(small, flat_paper)
        if found is None:
            return None
        near = ndimage.binary_dilation(found[0], EIGHT)
        lv = levels(ink, flat_paper)
        selected = near.repeat(factor, 0).repeat(factor, 1)[:h, :w] & (ink > lv.low)
    inside = ink[selected]
    if inside.size == 0:
        return None
    strongest = float(np.percentile(inside, 99.5)) if inside.size > 400 else float(inside.max())
    selected &= ink > lv.paper + RELATIVE * (strongest - lv.paper)  # shading the paper level missed
    out = np.where(selected, np.maximum(ink - np.float32(lv.paper), np.float32(0.0)), np.float32(0.0))
    return out.astype(np.float32, copy=False), max(strongest - lv.paper, 1.0)


def _block_max(ink: Grey, factor: int) -> Grey:
    """The max of each factor x factor block (edge blocks padded with 0): (ceil(H / f), ceil(W / f))."""
    h, w = ink.shape
    hh, ww = -(-h // factor), -(-w // factor)
    padded = np.zeros((hh * factor, ww * factor), np.float32)
    padded[:h, :w] = ink
    out = padded[::factor, ::factor].copy()
    for dy in range(factor):  # factor^2 strided maxima: ~10x faster than a reshaped max over 2 axes
        for dx in range(factor):
            if dy or dx:
                np.maximum(out, padded[dy::factor, dx::factor], out=out)
    return out


def select_digit(ink: Grey, flat_paper: bool = False) -> tuple[Mask, Levels] | None:
    """The mask of the digit's marks (ink above the low threshold) and the levels; None if no digit."""
    lv = levels(ink, flat_paper)
    candidate = ink > lv.low
    mask = without_ruled_lines(candidate)
    if mask is not candidate:  # mend the strokes a cleared line cut: its pixels right beside ink
        mask = mask | (candidate & ndimage.binary_dilation(mask, EIGHT, LINE_MEND))
    labels, n = ndimage.label(mask, EIGHT)
    cleared = without_box_outlines(mask, labels)
    if cleared is not mask:  # a box the digit touched, its outline gone: the marks change
        mask = cleared
        labels, n = ndimage.label(mask, EIGHT)
    if n == 1 and not _touches_border(mask):  # one mark clear of the border (most drawings): the digit
        if float(np.maximum.reduce(ink, None)) <= lv.high:
            return None
        kept = [1]
    else:
        found = marks(labels, ink, lv) if n else []
        barred = [m.label for m in found if m.junk or m.spans(labels.shape)]
        cleared = without_border_bars(mask, labels, ink, barred, lv.flat_paper) if barred else mask
        if cleared is not mask:  # a pen or a strip's edge cut off the digit it touched
            labels, n = ndimage.label(cleared, EIGHT)
            found = marks(labels, ink, lv) if n else []
        if found and all(m.junk for m in found):  # the digit may be merged with a shadow or a border
            labels = split_junk(labels, ink, found, lv)
            found = marks(labels, ink, lv)
        if not found:
            return None
        kept = choose_digit(found, labels.shape)
    selected = np.isin(labels, kept) if len(kept) > 1 else labels == kept[0]
    return selected, lv


def _touches_border(mask: Mask) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def split_junk(
    labels: npt.NDArray[np.int32], ink: Grey, found: list[Mark], lv: Levels
) -> npt.NDArray[np.int32]:
    """Labels with each border mark split at Otsu's level of its own ink: a digit inside a shadow."""
    labels = labels.copy()
    next_label = int(labels.max()) + 1
    for m in sorted(found, key=lambda m: -m.mass)[:3]:
        window = (slice(m.box[0], m.box[1]), slice(m.box[2], m.box[3]))
        region = labels[window] == m.label
        values = ink[window][region]
        level = otsu(np.minimum(values, 255).astype(np.uint8))
        if level <= lv.low or level >= float(values.max()):
            continue
        parts, k = ndimage.label(region & (ink[window] > level), EIGHT)
        view = labels[window]
        view[region] = 0
        view[parts > 0] = parts[parts > 0] + next_label - 1
        next_label += k
    return labels


@dataclass
class Mark:
    """One connected mark: its label, ink mass, bounding box and whether it looks like the digit."""

    label: int
    mass: float
    box: tuple[int, int, int, int]  # top, bottom, left, right (half-open)
    junk: bool
    area: int  # pixels
    loose_line: bool = False  # junk only as a long straight line clear of the border (or an upright 1)

    @property
    def level(self) -> float:
        """Mean ink of the mark's pixels."""
        return self.mass / max(self.area, 1)

    @property
    def solid(self) -> bool:
        """A dot or a blot: it fills most of a squarish box, as no digit's strokes do."""
        bh, bw = self.box[1] - self.box[0], self.box[3] - self.box[2]
        return self.area > SOLID_FILL * bh * bw and max(bh, bw) < 2.0 * min(bh, bw)

    @property
    def dash(self) -> bool:
        """A dash or an underline: much wider than tall, as no digit is (a 7's bar is a part of one)."""
        return self.box[3] - self.box[2] >= DASH * (self.box[1] - self.box[0])

    def spans(self, shape: tuple[int, int]) -> bool:
        """The mark reaches across the frame (a strip's edge, maybe with the digit on it)."""
        return self.box[3] - self.box[2] >= SPAN * shape[1] or self.box[1] - self.box[0] >= SPAN * shape[0]

    @property
    def size(self) -> int:
        """The longer side of the mark's box."""
        return max(self.box[1] - self.box[0], self.box[3] - self.box[2])

    def inside(self, box: tuple[int, int, int, int]) -> bool:
        """Whether this mark's box lies inside `box`."""
        return (
            box[0] <= self.box[0]
            and self.box[1] <= box[1]
            and box[2] <= self.box[2]
            and self.box[3] <= box[3]
        )

    def gap(self, box: tuple[int, int, int, int]) -> int:
        """Pixels between this mark's box and `box` (0 when they overlap)."""
        dy = max(box[0] - self.box[1], self.box[0] - box[1], 0)
        dx = max(box[2] - self.box[3], self.box[2] - box[3], 0)
        return max(dy, dx)


def marks(labels: npt.NDArray[np.int32], ink: Grey, lv: Levels) -> list[Mark]:
    """The strong marks with their mass and box, border objects and long thin lines flagged as junk."""
    h, w = labels.shape
    count = int(labels.max())
    strong = np.flatnonzero(np.bincount(labels[ink > lv.high], minlength=count + 1)[1:]) + 1
    if strong.size == 0:
        return []
    flat = labels.ravel()
    mass = np.bincount(flat, ink.ravel(), minlength=count + 1)[strong]
    # On flat paper only strong ink touches: a digit's faint anti-aliased fringe grazing the edge of
    # a 28x28 upload is not a border object (it made such a 7 junk, and a speck beside it the digit).
    # On a photo a faint shadow or texture touching the border still counts.
    edge = np.where(ink > lv.high, labels, 0) if lv.flat_paper else labels
    ring = np.concatenate([edge[0], edge[-1], edge[1:-1, 0], edge[1:-1, -1]])
    contact = np.bincount(ring, minlength=count + 1)
    areas = np.bincount(flat, minlength=count + 1)
    keep = mass >= SPECK_MASS * float(mass.max())  # grains of texture, dust: not worth a look
    strong, mass = strong[keep], mass[keep]
    boxes = ndimage.find_objects(labels)
    out = []
    for label, m in zip(strong.tolist(), np.atleast_1d(mass).tolist(), strict=True):
        if boxes[label - 1] is None:
            continue
        rows, cols = boxes[label - 1]
        box = (rows.start, rows.stop, cols.start, cols.stop)
        bh, bw = box[1] - box[0], box[3] - box[2]
        cy, cx = (box[0] + box[1]) / 2 / h, (box[2] + box[3]) / 2 / w
        off_centre = not (CENTRAL < cy < 1 - CENTRAL and CENTRAL < cx < 1 - CENTRAL)
        touching = contact[label] > max(2.0, BORDER_CONTACT * min(h, w)) or (
            contact[label] > 0 and off_centre
        )
        framing = contact[label] > 0 and bh * bw > 0.8 * h * w  # spans the whole frame
        long_side = max(bh / h, bw / w)
        line = long_side >= LINE_SPAN and areas[label] / max(bh, bw) <= max(1.5, LINE_THICK * min(h, w))
        if line and not contact[label]:  # clear of the border: a line only if straight (not a thin 7)
            line = _straightness(labels[rows, cols] == label) < STRAIGHT
        loose = bool(line and not (touching or framing or contact[label]))
        out.append(Mark(label, float(m), box, bool(touching or framing or line), int(areas[label]), loose))
    _flag_frames(labels, out, min(h, w))
    return out


def _flag_frames(labels: npt.NDArray[np.int32], found: list[Mark], side: int) -> None:
    """Flag as junk, in place, each mark that frames another (a form's cell, a circle round the digit)."""
    for outer in [m for m in found if not m.junk]:
        inner = [m for m in found if m is not outer and m.inside(outer.box) and not m.solid]
        inner = [
            m for m in inner if m.mass >= BOX_INNER * outer.mass and m.size >= BOX_INNER_SIZE * outer.size
        ]
        outer.junk = bool(inner) and _frames(labels, outer, inner, side)


def _frames(labels: npt.NDArray[np.int32], outer: Mark, inner: list[Mark], side: int) -> bool:
    """Whether `outer`, at least BOX_SIZE of the frame's side, is a frame round one of the `inner`
    marks: it encloses most of its pixels in a hole, or it inks BOX_SIDE of each side of its own
    box (a box drawn with a gap), within twice the stroke it would have as a box's outline."""
    bh, bw = outer.box[1] - outer.box[0], outer.box[3] - outer.box[2]
    depth = max(2, int(np.ceil(outer.area / (bh + bw))))
    if min(bh, bw) < max(BOX_SIZE * side, 4 * depth):
        return False
    window = labels[outer.box[0] : outer.box[1], outer.box[2] : outer.box[3]]
    mark = window == outer.label
    holes = window[ndimage.binary_fill_holes(mark) & ~mark]
    if any(np.count_nonzero(holes == m.label) > m.area / 2 for m in inner):
        return True
    bands = (mark[:depth].any(0), mark[-depth:].any(0), mark[:, :depth].any(1), mark[:, -depth:].any(1))
    return all(float(band.mean()) >= BOX_SIDE for band in bands)


def _straightness(mark: Mask) -> float:
    """How far a mark's pixels spread across its main direction, of how far along it (0: a line)."""
    ys, xs = np.nonzero(mark)
    spread = np.linalg.eigvalsh(np.cov(np.stack([ys, xs]).astype(np.float64)))
    return float(np.sqrt(max(spread[0], 0.0) / max(spread[1], 1e-9)))


def choose_digit(found: list[Mark], shape: tuple[int, int]) -> list[int]:
    """Labels of the digit's marks: the heaviest plausible mark (central ones preferred) and its parts."""
    plausible = [m for m in found if not m.junk]
    loose = [m for m in found if m.loose_line]
    if (
        plausible
        and loose
        and all(m.solid or m.size < SPECK_SIZE * max(x.size for x in loose) for m in plausible)
    ):
        plausible += loose  # beside dots and specks only, a long straight stroke is a 1, not a line
    plausible = plausible or found  # nothing but border marks: the old behaviour
    h, w = shape

    def weight(m: Mark) -> float:
        cy, cx = (m.box[0] + m.box[1]) / 2 / h - 0.5, (m.box[2] + m.box[3]) / 2 / w - 0.5
        unlike = 0.25 if m.solid or m.dash else 1.0  # a blot or a dash beside a fainter digit
        return unlike * m.mass * (1.0 - 0.6 * min(1.0, 2.0 * float(np.hypot(cy, cx))))

    main = max(plausible, key=weight)
    kept, box, size = [main], main.box, main.size
    grew = True
    while grew:
        grew = False
        for m in plausible:
            if m in kept or m.mass < PART_MASS * main.mass or m.gap(box) > NEAR * size:
                continue
            if not 1 / PART_LEVEL < m.level / max(main.level, 1e-6) < PART_LEVEL:
                continue  # much darker or fainter than the digit: another pen's mark
            kept.append(m)
            box = (min(box[0], m.box[0]), max(box[1], m.box[1]), min(box[2], m.box[2]), max(box[3], m.box[3]))
            grew = True
    return [m.label for m in kept]
