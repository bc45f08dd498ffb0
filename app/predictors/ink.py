"""Ink versus paper, and the digit versus the rest of the frame.

`ink_map` removes the paper (its level, shading and polarity); `digit_ink` decides per pixel what is
ink and keeps only the digit's connected marks: specks, border objects (table, paper edge, shadow,
dark corner) and ruled lines are dropped, paper becomes exactly 0, ink keeps its grey levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from app.predictors.ruled import Mask, without_ruled_lines

Grey = npt.NDArray[np.float32]

PAPER_SIDE = 96  # the paper level is estimated on a copy at most this many pixels on a side
PAPER_WINDOW = (0.15, 0.45)  # ... with a window between these fractions of its longer side ...
STROKE_WINDOWS = 3.0  # ... and this many stroke widths: wider than any stroke, not much wider
PAPER_NEAR = 0.05  # ... then re-estimated between the strokes, where this much of the Gaussian is paper
FLAT = 0.4  # paper this much of which is exactly its lowest level has no texture (digital)
ANALYSIS_SIDE = 384  # larger pictures are analysed on a reduced copy at most this big
SAMPLE = 250_000  # pixels sampled (over a stride) for the paper statistics
MIN_CONTRAST = 32.0  # a mark must stand this much (of 255) above the paper to count as ink
LOW_SIGMAS, LOW_MIN = 4.0, 6.0  # a pixel may be ink this far above the paper's texture ...
HIGH_SIGMAS = 10.0  # ... and a mark counts if its strongest pixel is this far (hysteresis)
# A mark touching the border is not the digit when it touches it along this fraction of the shorter
# side, or when its box's centre lies outside the central 60% of the frame (CENTRAL on each side).
BORDER_CONTACT, CENTRAL = 0.12, 0.2
LINE_SPAN, LINE_THICK = 0.6, 0.035  # a mark this long (of the frame) and this thin is a ruled line
LINE_MEND = 3  # px: a cleared line's pixels this near the remaining ink are put back (the crossing)
NEAR = 0.2  # marks within this fraction of the digit's size from it are part of it (a 5's top)
PART_MASS = 0.02  # ... if they hold at least this fraction of its ink
PART_LEVEL = 2.5  # ... and their mean ink is within this factor of its own
SOLID_FILL = 0.7  # a squarish mark filling this much of its box is a dot or a blot
SPECK_MASS = 0.005  # marks with less than this fraction of the heaviest one's ink are specks
RELATIVE = 0.12  # of the digit's strongest ink: weaker pixels are shading or texture, not strokes
EIGHT = np.ones((3, 3), bool)  # 8-connectivity


def _image(x: Grey) -> Image.Image:
    """(H, W) float32 -> PIL "F" image sharing its memory (Image.fromarray: ~3 µs more)."""
    return Image.frombuffer("F", x.shape[::-1], np.ascontiguousarray(x, np.float32), "raw", "F", 0, 1)


def _pixels(image: Image.Image) -> Grey:
    """PIL "F" image -> read-only (H, W) float32 (np.asarray: ~2 µs more)."""
    return np.frombuffer(image.tobytes(), np.float32).reshape(image.height, image.width)


def ink_map(grey: Grey) -> Grey:
    """Grey image -> ink strength in 0..255 (0 = paper), whichever the polarity, shading removed."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    level = _median(border)
    if np.count_nonzero(grey == np.float32(level)) > FLAT * grey.size:
        paper: Grey | np.float32 = np.float32(level)  # flat paper (MNIST form, a drawing): no shading
        light_paper = level >= 128.0  # dark ink on light paper is inverted (MNIST is not)
    else:
        small = _reduced(grey)  # light paper: its border may be dark (vignetting), its middle is not
        light_paper = max(level, _median(small.ravel())) >= 128.0
        paper = paper_level(grey, small, light_paper)
    ink = paper - grey if light_paper else grey - paper
    return np.clip(ink, 0.0, 255.0, out=ink).astype(np.float32, copy=False)


def _median(values: Grey) -> float:
    """np.median of a 1-D array, same arithmetic, without its generic-axis overhead (~40 -> ~8 µs)."""
    n = values.size
    if np.isnan(values).any():
        return float("nan")  # as np.median
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    middle = np.partition(values, (half - 1, half))[half - 1 : half + 1]
    return float((middle[0] + middle[1]) / np.float32(2.0))  # as np.mean: float32 sum, float32 halving


def _reduced(grey: Grey) -> Grey:
    """A copy at most PAPER_SIDE pixels on a side (box filter), for the paper's estimates."""
    h, w = grey.shape
    scale = min(1.0, PAPER_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return grey
    return _pixels(_image(grey).resize(size, Image.Resampling.BOX))


def paper_level(grey: Grey, small: Grey, light_paper: bool) -> Grey:
    """The paper's brightness at every pixel (shading, vignetting): the image with its strokes closed.

    A closing (max then min, or the reverse for dark paper) with a window wider than any stroke,
    on `small` (`_reduced(grey)`), refined between the strokes, then scaled back up.
    """
    h, w = grey.shape
    k = _closing_window(small, light_paper)
    first, second = (np.maximum, np.minimum) if light_paper else (np.minimum, np.maximum)
    level = _rank_filter(small, k, first)
    if np.minimum.reduce(level, None) != np.maximum.reduce(level, None):  # else `second` keeps it
        level = _rank_filter(level, k, second)  # (a dark-paper digit is often all 0 after the first)
        level = _paper_between_strokes(small, level, light_paper, k)
    if level.shape == grey.shape:
        return level
    return _pixels(_image(level).resize((w, h), Image.Resampling.BILINEAR))


def _paper_between_strokes(small: Grey, closed: Grey, light_paper: bool, k: int) -> Grey:
    """The paper level re-estimated from the paper itself: a local mean of the pixels that are not strokes.

    A closing follows the paper only where it is flat on the scale of its window: it overshoots on a
    vignette's bright centre, a shadow's edge or inside a 0, and that overshoot becomes ink (a halo).
    The strokes the closing found (ink above the low threshold, widened by two pixels) are masked out and
    the rest averaged with a Gaussian half a stroke wide (a normalized convolution), which tracks
    shading on the strokes' own scale; where no paper is near (a large dark object) the closing stays.
    """
    ink = closed - small if light_paper else small - closed
    strokes = ndimage.binary_dilation(ink > levels(ink).low, EIGHT, 2)
    paper = (~strokes).astype(np.float32)
    sigma = max(1.0, k / STROKE_WINDOWS / 2.0)
    weight = ndimage.gaussian_filter(paper, sigma, mode="nearest", truncate=3.0)
    total = ndimage.gaussian_filter(small * paper, sigma, mode="nearest", truncate=3.0)
    near = weight > PAPER_NEAR
    return np.where(near, total / np.where(near, weight, np.float32(1.0)), closed).astype(np.float32)


def _closing_window(small: Grey, light_paper: bool) -> int:
    """The closing's window: 3x the strokes' width (so they are closed, not hollowed), within bounds.

    The strokes are found on a narrow closing's residue (a top-hat), which shading does not reach.
    """
    side = max(small.shape)
    narrow = max(3, int(PAPER_WINDOW[0] * side) | 1)
    first, second = (np.maximum, np.minimum) if light_paper else (np.minimum, np.maximum)
    closed = _rank_filter(_rank_filter(small, narrow, first), narrow, second)
    contrast = closed - small if light_paper else small - closed
    top = float(contrast.max())
    inked = contrast > 0.5 * top if top > 0 else contrast > 0
    inner = inked[1:-1, 1:-1] & inked[:-2, 1:-1] & inked[2:, 1:-1] & inked[1:-1, :-2] & inked[1:-1, 2:]
    area = np.count_nonzero(inked)
    edge = area - np.count_nonzero(inner)
    width = 2.0 * area / edge if edge else 1.0  # a line w wide: w
    k = int(np.clip(STROKE_WINDOWS * width, PAPER_WINDOW[0] * side, PAPER_WINDOW[1] * side))
    return max(3, k | 1)


def _rank_filter(x: Grey, k: int, reduce: np.ufunc) -> Grey:
    """A separable k x k max or min filter (`np.maximum` / `np.minimum`), edges repeated.

    About log2(k) whole-array calls per axis, and edges repeated by concatenation (np.pad is slow
    on small arrays): 3.6x faster at 28x28, 13x at 96x96 than k - 1 shifted calls, same output.
    """
    pad = k // 2
    for _ in range(2):  # rows, then columns (as rows of the transpose); transposing twice restores x
        padded = np.concatenate([x[:1].repeat(pad, 0), x, x[-1:].repeat(pad, 0)])
        x = _window_reduce(padded, k, reduce, x.shape[0]).T
    return np.ascontiguousarray(x)


def _window_reduce(padded: Grey, k: int, reduce: np.ufunc, n: int) -> Grey:
    """`reduce` over each window of k rows of `padded` (n + k - 1 rows): doublings, then one overlap."""
    span = 1
    while 2 * span <= k:
        padded = reduce(padded[:-span], padded[span:])  # row i now covers rows [i, i + 2 * span)
        span *= 2
    return np.asarray(reduce(padded[:n], padded[k - span : k - span + n]), dtype=np.float32)


def otsu(values: npt.NDArray[np.uint8]) -> int:
    """Otsu's threshold of 0..255 values: the level that best splits them into two classes (<= and >)."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * np.arange(256))
    total, mean = w0[-1], m0[-1]
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():  # a single value: nothing to split
        return int(values.max()) if values.size else 0
    between = np.where(valid, (mean * w0 - total * m0) ** 2 / np.where(valid, w0 * w1, 1.0), -1.0)
    return int(np.argmax(between))


@dataclass(frozen=True)
class Levels:
    """The paper's texture and the two ink thresholds, in ink units (0..255)."""

    paper: float  # the texture's median: subtracted from the kept ink
    low: float  # a pixel above it may be ink
    high: float  # a mark whose strongest pixel is above it is ink (hysteresis)


def levels(ink: Grey) -> Levels:
    """Paper statistics from the pixels below Otsu's threshold (robust to how much ink there is).

    The texture's spread is measured on a high-pass (each pixel minus its 3x3 mean), so that shading
    the paper level missed raises the median, not the spread.
    """
    stride = max(1, int(np.sqrt(ink.size / SAMPLE)))
    sample = ink[::stride, ::stride]
    floor = float(np.minimum.reduce(sample, None))
    if sample.size <= 16 or np.count_nonzero(sample == floor) > FLAT * sample.size:
        return Levels(floor, floor + LOW_MIN, floor + MIN_CONTRAST)  # flat paper: a drawing, MNIST form
    below = sample <= otsu(sample.astype(np.uint8))  # ink is 0..255: truncation keeps the order
    if not below.any():
        below = np.ones_like(below)
    paper = sample[below]
    median = _median(paper)
    local = ndimage.uniform_filter(sample, 3, mode="nearest")
    detail = (sample - local)[below]
    sigma = 1.4826 * _median(np.abs(detail - np.float32(_median(detail))))
    low = median + max(LOW_SIGMAS * sigma, LOW_MIN)
    return Levels(median, low, median + max(HIGH_SIGMAS * sigma, MIN_CONTRAST))


def digit_ink(ink: Grey) -> tuple[Grey, float] | None:
    """Ink with everything but the digit's marks set to 0, and the digit's ink peak; None if no digit.

    Pictures larger than ANALYSIS_SIDE are analysed on a block-max copy; the digit's marks found
    there, widened by one reduced pixel, select the full-size ink above its own low threshold.
    """
    h, w = ink.shape
    factor = -(-max(h, w) // ANALYSIS_SIDE)
    if factor == 1:
        found = select_digit(ink)
        if found is None:
            return None
        selected, lv = found
    else:
        small = _block_max(ink, factor)  # the max, not the mean: a hairline keeps its strength
        found = select_digit(small)
        if found is None:
            return None
        near = ndimage.binary_dilation(found[0], EIGHT)
        lv = levels(ink)
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


def select_digit(ink: Grey) -> tuple[Mask, Levels] | None:
    """The mask of the digit's marks (ink above the low threshold) and the levels; None if no digit."""
    lv = levels(ink)
    candidate = ink > lv.low
    mask = without_ruled_lines(candidate)
    if mask is not candidate:  # mend the strokes a cleared line cut: its pixels right beside ink
        mask = mask | (candidate & ndimage.binary_dilation(mask, EIGHT, LINE_MEND))
    labels, n = ndimage.label(mask, EIGHT)
    if n == 1 and not _touches_border(mask):  # one mark clear of the border (most drawings): the digit
        if float(np.maximum.reduce(ink, None)) <= lv.high:
            return None
        kept = [1]
    else:
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

    @property
    def level(self) -> float:
        """Mean ink of the mark's pixels."""
        return self.mass / max(self.area, 1)

    @property
    def solid(self) -> bool:
        """A dot or a blot: it fills most of a squarish box, as no digit's strokes do."""
        bh, bw = self.box[1] - self.box[0], self.box[3] - self.box[2]
        return self.area > SOLID_FILL * bh * bw and max(bh, bw) < 2.0 * min(bh, bw)

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
    ring = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
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
        out.append(Mark(label, float(m), box, bool(touching or framing or line), int(areas[label])))
    return out


def choose_digit(found: list[Mark], shape: tuple[int, int]) -> list[int]:
    """Labels of the digit's marks: the heaviest plausible mark (central ones preferred) and its parts."""
    plausible = [m for m in found if not m.junk] or found  # nothing but border marks: the old behaviour
    h, w = shape

    def weight(m: Mark) -> float:
        cy, cx = (m.box[0] + m.box[1]) / 2 / h - 0.5, (m.box[2] + m.box[3]) / 2 / w - 0.5
        solid = 0.25 if m.solid else 1.0
        return solid * m.mass * (1.0 - 0.6 * min(1.0, 2.0 * float(np.hypot(cy, cx))))

    main = max(plausible, key=weight)
    kept, box = [main], main.box
    size = max(box[1] - box[0], box[3] - box[2])
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
