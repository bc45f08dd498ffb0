"""Ink versus paper, and the digit versus the rest of the frame.

`ink_map` removes the paper (its level, shading and polarity); `digit_ink` decides per pixel what is
ink and keeps only the digit's connected marks: specks, border objects (table, paper edge, shadow,
dark corner) and ruled lines are dropped, paper becomes exactly 0, ink keeps its grey levels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.bars import without_border_bars
from app.predictors.marks import Mark, marks
from app.predictors.outlines import without_box_outlines
from app.predictors.paper import EIGHT, Grey, Levels, block_max, levels, otsu
from app.predictors.ruled import LINE_MEND, Line, Mask, ruled_lines

ANALYSIS_SIDE = 384  # larger pictures are analysed on a reduced copy at most this big
ONE_WIDTH = 0.1  # a lone upright stroke this narrow (of the frame) from edge to edge is a 1, not a line
FAINT_MARK, RIVAL_SIZE = 2.5, 0.3  # a mark this many times fainter than a stroke this big (of it)
NEAR = 0.2  # marks within this fraction of the digit's size from it are part of it (a 5's top)
PART_MASS = 0.02  # ... if they hold at least this fraction of its ink
PART_LEVEL = 2.5  # ... and their mean ink is within this factor of its own
UNDERLINE = 5.0  # a dash below the digit this many times wider than tall is a line even if half as wide
RELATIVE = 0.12  # of the digit's strongest ink: weaker pixels are shading or texture, not strokes
LINE_DARKER = 1.6  # a line's pixels this many times darker than the lines' median are a stroke on it
LINE_OWN = 0.25  # ... or than this quantile of its own darkness along it, if higher (darker all along)
TIGHT_SHARE = 0.25  # plausible marks this light (of a border mark that fills the frame) are its specks


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
        small = block_max(ink, factor)  # the max, not the mean: a hairline keeps its strength
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


def select_digit(ink: Grey, flat_paper: bool = False) -> tuple[Mask, Levels] | None:
    """The mask of the digit's marks (ink above the low threshold) and the levels; None if no digit."""
    lv = levels(ink, flat_paper)
    candidate = ink > lv.low
    mask = _without_lines(candidate, ink, lv)
    ruled = mask is not candidate  # lines were cleared: a dash below the digit may be a cut-off part
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
        # Border objects, marks across the frame, and a digit a pen touches at the border's edge.
        ring = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
        barred = [m.label for m in found if m.junk or m.spans(labels.shape) or m.label in ring]
        cleared = without_border_bars(mask, labels, ink, barred, lv.flat_paper) if barred else mask
        if cleared is not mask:  # a pen or a strip's edge cut off the digit it touched
            labels, n = ndimage.label(cleared, EIGHT)
            found = marks(labels, ink, lv) if n else []
        # All junk: the digit may be merged with a shadow or a border, unless a mark is drawn from
        # border to border (a digit cropped tight, which splitting at its own level would cut up).
        if found and all(m.junk and not m.fills_frame for m in found):
            labels = split_junk(labels, ink, found, lv)
            found = marks(labels, ink, lv)
        if not found:
            return None
        kept = choose_digit(found, labels.shape, ruled)
    selected = np.isin(labels, kept) if len(kept) > 1 else labels == kept[0]
    return selected, lv


def _without_lines(candidate: Mask, ink: Grey, lv: Levels) -> Mask:
    """The candidate ink with its ruled lines cleared, and the strokes they cut mended (the line's
    pixels far darker than the line, or right beside the ink, left). If that clears all the strong
    ink and it was one upright line, at most ONE_WIDTH of the frame wide, the line was the digit: a 1
    cropped to fill the frame, not a sheet of ruled or squared paper with nothing on it (nor one line
    lying across the frame)."""
    lines = ruled_lines(candidate)
    if not lines:
        return candidate
    mask = candidate.copy()
    for rows, cols, _ in lines:
        mask[rows, cols] = False
    if not (ink[mask] > lv.high).any():
        labels, n = ndimage.label(ink > lv.high, EIGHT)
        if n == 1:
            cols = ndimage.find_objects(labels)[0][1]
            if cols.stop - cols.start <= ONE_WIDTH * ink.shape[1]:
                return candidate
    mask = mask | _strokes_on_lines(lines, ink, lv)
    return mask | (candidate & ndimage.binary_dilation(mask, EIGHT, LINE_MEND))


def _strokes_on_lines(lines: list[Line], ink: Grey, lv: Levels) -> Mask:
    """The lines' pixels far darker than the lines (a 7's bar lying along a squared sheet's line):
    LINE_DARKER times the median of all their pixels, or times the LINE_OWN quantile of the line's
    own darkness along its length if higher (a margin's line, darker all along). Pixels on two lines
    are left out: lines printed over each other are darker where they cross."""
    line = np.concatenate([np.full(rows.size, k) for k, (rows, _, _) in enumerate(lines)])
    rows, cols, along = (np.concatenate(part) for part in zip(*lines, strict=True))
    values = ink[rows, cols]
    pixel = rows * ink.shape[1] + cols
    on_lines = np.bincount(pixel, minlength=ink.size)  # how many lines each pixel of the frame is on
    typical = float(np.median(ink.ravel()[on_lines > 0]))  # each pixel once, on however many lines
    # Each line's darkness at each place along it (its darkest pixel across it; ink there is over
    # the low threshold, so 0 is no pixel), then the LINE_OWN quantile of the places it has.
    width = int(along.max()) + 1
    darkest = np.zeros(len(lines) * width)
    np.maximum.at(darkest, line * width + along, values)
    ranked = np.sort(darkest.reshape(len(lines), width), axis=1)
    counts = np.maximum(np.count_nonzero(ranked, axis=1), 1)
    own = ranked[np.arange(len(lines)), width - counts + ((counts - 1) * LINE_OWN).astype(np.int64)]
    limit = np.maximum(lv.high, LINE_DARKER * np.maximum(typical, own))
    once = on_lines[pixel] == 1
    out = np.zeros(ink.size, bool)
    out[pixel[once & (values > limit[line])]] = True
    return out.reshape(ink.shape)


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


def _plausible(found: list[Mark]) -> list[Mark]:
    """The marks that may be the digit: those not junk, and the heaviest border mark that fills the
    frame (`Mark.fills_frame`) when they hold under TIGHT_SHARE of its ink: then they are specks (a
    5's dot) beside a digit cropped tight, which touches the border as a border object does."""
    plausible = [m for m in found if not m.junk]
    crop = max((m for m in found if m.fills_frame), key=lambda m: m.mass, default=None)
    if crop is not None and sum(m.mass for m in plausible) < TIGHT_SHARE * crop.mass:
        plausible.append(crop)
    return plausible


def choose_digit(found: list[Mark], shape: tuple[int, int], ruled: bool = False) -> list[int]:
    """Labels of the digit's marks: the heaviest plausible mark (central ones preferred) and its
    parts (`_with_parts`; `ruled`: the ruled step cleared lines in this picture)."""
    plausible = _plausible(found)
    loose = [m for m in found if m.loose_line]
    if plausible and loose and all(m.dash or m.speck_beside(max(x.size for x in loose)) for m in plausible):
        plausible += loose  # beside dots, specks and dashes only, a long straight stroke is a 1
    plausible = plausible or found  # nothing but border marks: the old behaviour
    h, w = shape
    strokes = [(m.level, m.size) for m in plausible if not m.dash and (m.upright or not m.filled)]

    def weight(m: Mark) -> float:
        cy, cx = (m.box[0] + m.box[1]) / 2 / h - 0.5, (m.box[2] + m.box[3]) / 2 / w - 0.5
        # A blot or a dash beside a fainter digit; a mark much fainter than strokes (a mark neither
        # filling its box, unless upright as a 1, nor a dash) not much smaller (a desk's halo round a
        # small sheet, beside the digit on it; a pen's dot or block beside a pencil digit is not such
        # strokes).
        faint = any(level > FAINT_MARK * m.level and size >= RIVAL_SIZE * m.size for level, size in strokes)
        unlike = 0.25 if m.solid or m.dash or faint else 1.0
        return unlike * m.mass * (1.0 - 0.6 * min(1.0, 2.0 * float(np.hypot(cy, cx))))

    return [m.label for m in _with_parts(max(plausible, key=weight), plausible, ruled)]


def _with_parts(main: Mark, plausible: list[Mark], ruled: bool) -> list[Mark]:
    """`main` and the marks near it, as dark, that are parts of the digit (a 5's top, a 7's bar).

    A dash wholly below the digit is an underline, not a part (a 7 on a line reads 1), if it is at
    least as wide, or half as wide and a thin line (`_underline`), unless ruled lines were cleared
    (`ruled`): then it may be the lower part of a digit a line cut in two. (A narrower, thicker one
    may be a piece of the digit: a pencil 5's broken-off bowl.)
    """
    kept, box, size = [main], main.box, main.size
    grew = True
    while grew:
        grew = False
        for m in plausible:
            if m in kept or m.mass < PART_MASS * main.mass or m.gap(box) > NEAR * size:
                continue
            if _underline(m, box) and not ruled:
                continue
            if not 1 / PART_LEVEL < m.level / max(main.level, 1e-6) < PART_LEVEL:
                continue  # much darker or fainter than the digit: another pen's mark
            kept.append(m)
            box = (min(box[0], m.box[0]), max(box[1], m.box[1]), min(box[2], m.box[2]), max(box[3], m.box[3]))
            grew = True
    return kept


def _underline(m: Mark, box: tuple[int, int, int, int]) -> bool:
    """A dash wholly below `box`, as wide, or half as wide and thin (UNDERLINE times wider than tall)."""
    if not m.dash or m.box[0] < box[1]:
        return False
    width, height = m.box[3] - m.box[2], m.box[1] - m.box[0]
    return width >= box[3] - box[2] or (2 * width >= box[3] - box[2] and width >= UNDERLINE * height)
