"""Frozen copy of app/predictors/ink.py and preprocess.py as of the upload issue (ink versus paper,
connected marks, the paper re-estimated between the strokes and following a ramp of light past the
frame's edge, border bars cleared): the reference.

tests/app/test_preprocess_exact.py checks that the service's modules give the same bytes and the
same errors as this one, so a later speed-up cannot change what the network is served. Do not edit
it to follow the service: it is the specification. (The previous references, of commits 19aee60,
1ccade8 and 6c6164e, were replaced when the preprocessing itself changed: see the replacing
commits' messages.)
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from scipy import ndimage

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from models.features import DIGIT_BOX, IMAGE_SIZE

Grey = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

PAPER_SIDE = 96  # the paper level is estimated on a copy at most this many pixels on a side
PAPER_WINDOW = (0.15, 0.45)  # ... with a window between these fractions of its longer side ...
STROKE_WINDOWS = 3.0  # ... and this many stroke widths: wider than any stroke, not much wider
PAPER_NEAR = 0.05  # ... then re-estimated between the strokes, where this much of the Gaussian is paper
STEP = 16.0  # a change of the paper level between neighbouring reduced pixels this big is a step
RAMP = 1.0  # the steepest shading the paper level follows past the frame's edge: 0..255 over its side
FLAT = 0.4  # paper this much of which is exactly its lowest level has no texture (digital)
SHADE, SHADED = 40.0, 0.15  # ... unless this much of it lies within SHADE of that level, not on it
ANALYSIS_SIDE = 384  # larger pictures are analysed on a reduced copy at most this big
SAMPLE = 250_000  # pixels sampled (over a stride) for the paper statistics
MARK_SAMPLE, MARK_TAIL, MARK_RATIO = 40_000, 0.1, 2.0  # dark marks on paper, however dim
MARK_WINDOW = 0.4  # ... below the mean of a window this much of the picture wide
MIN_CONTRAST = 32.0  # a mark must stand this much (of 255) above the paper to count as ink
LOW_SIGMAS, LOW_MIN = 4.0, 6.0  # a pixel may be ink this far above the paper's texture ...
HIGH_SIGMAS = 10.0  # ... and a mark counts if its strongest pixel is this far (hysteresis)
# A mark touching the border is not the digit when it touches it along this fraction of the shorter
# side, or when its box's centre lies outside the central 60% of the frame (CENTRAL on each side).
BORDER_CONTACT, CENTRAL = 0.12, 0.2
LINE_SPAN, LINE_THICK = 0.6, 0.035  # a mark this long (of the frame) and this thin is a ruled line
STRAIGHT = 0.1  # ... and, if it is clear of the border, this straight
SPECK_SIZE = 0.1  # ... unless all else is dots or marks this small (of its size): then it is a 1
BOX_SIZE, BOX_SIDE = 0.2, 0.85  # a mark this big (of the frame) inking this much of each side of its box
BOX_INNER = 0.1  # ... around a mark with this fraction of its ink is a box around the digit
BOX_INNER_SIZE = 0.3  # ... and this big (of the frame mark's longer side)
RULED_MIN_SIDE = 64  # smaller pictures are not photos of ruled paper
# A ruled line: a band at most RULED_THICK of the frame thick, holding ink along RULED_SPAN of it
# (a digit's long stroke is thicker, or shorter: a tight crop's 1 is about a tenth of the width).
RULED_SPAN, RULED_THICK = 0.6, 0.02
RULED_EDGE, RULED_RUN = 0.04, 3  # ... and runs off a side: inks half of each of its last 3 x 4 %
LINE_MEND = 3  # px: a cleared line's pixels this near the remaining ink are put back (the crossing)
NEAR = 0.2  # marks within this fraction of the digit's size from it are part of it (a 5's top)
PART_MASS = 0.02  # ... if they hold at least this fraction of its ink
PART_LEVEL = 2.5  # ... and their mean ink is within this factor of its own
UNDERLINE = 5.0  # a dash below this many times wider than tall is an underline if half as wide
SPAN = 0.9  # a mark this wide or tall (of the frame) reaches across it
SOLID_FILL = 0.7  # a squarish mark filling this much of its box is a dot or a blot
DASH = 3.0  # a mark this many times wider than tall is a dash or an underline, not a digit alone
SPECK_MASS = 0.005  # marks with less than this fraction of the heaviest one's ink are specks
RELATIVE = 0.12  # of the digit's strongest ink: weaker pixels are shading or texture, not strokes
TIGHT_FILL, TIGHT_SPAN = 0.65, 0.8  # a digit cropped tight: strokes filling this much of its box at most,
TIGHT_CROSSINGS, TIGHT_ALONG = 6, 0.6  # which spans this much of the frame, crossing its edge so often
TIGHT_SHARE = 0.25  # beside plausible marks holding this fraction of its ink at most
TIGHT_NEAR = 0.15  # ... each near its strokes (of the frame's shorter side)
EIGHT = np.ones((3, 3), bool)  # 8-connectivity


def _image(x: Grey) -> Image.Image:
    """(H, W) float32 -> PIL "F" image sharing its memory (Image.fromarray: ~3 µs more)."""
    return Image.frombuffer("F", x.shape[::-1], np.ascontiguousarray(x, np.float32), "raw", "F", 0, 1)


def _pixels(image: Image.Image) -> Grey:
    """PIL "F" image -> read-only (H, W) float32 (np.asarray: ~2 µs more)."""
    return np.frombuffer(image.tobytes(), np.float32).reshape(image.height, image.width)


def ink_map(grey: Grey) -> tuple[Grey, bool]:
    """Grey image -> (ink in 0..255, 0 = paper, polarity and shading removed; was the paper flat)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    level = _median(border)
    flat = np.count_nonzero(grey == np.float32(level)) > FLAT * grey.size
    if flat and level >= 128.0:
        # Light and flat: a drawing, unless over SHADED of the picture lies within SHADE of that
        # level but off it (an overexposed photo, clipped at 255 where the paper is most lit).
        near = np.count_nonzero((np.abs(grey - np.float32(level)) < SHADE) & (grey != np.float32(level)))
        flat = near <= SHADED * grey.size
    if flat:
        paper: Grey | np.float32 = np.float32(level)  # flat paper (MNIST form, a drawing): no shading
        light_paper = level >= 128.0  # dark ink on light paper is inverted (MNIST is not)
    else:
        # Light paper: its border may be dark (vignetting), its median is not, or the median of the
        # frame's middle half (a sheet lying on a dark desk, taking less than half of the frame).
        small = _reduced(grey)
        rows, cols = small.shape
        middle = small[rows // 4 : rows - rows // 4, cols // 4 : cols - cols // 4]
        light_paper = max(level, float(np.median(small)), float(np.median(middle))) >= 128.0
        if not light_paper:
            # Underexposed white paper is under mid-grey too. Its darkest pixels (MARK_TAIL % of a
            # sample of MARK_SAMPLE) lie at least MIN_CONTRAST, and MARK_RATIO times further, below
            # the mean round them (a window MARK_WINDOW of the sample wide) than its lightest lie
            # above it (chalk on a board: the other way round).
            stride = max(1, int(np.sqrt(grey.size / MARK_SAMPLE)))
            sample = grey[::stride, ::stride]
            window = max(3, int(MARK_WINDOW * max(sample.shape)))
            detail = sample - ndimage.uniform_filter(sample, window, mode="nearest")
            lo, hi = np.percentile(detail, (MARK_TAIL, 100.0 - MARK_TAIL))
            light_paper = -lo >= MIN_CONTRAST and -lo >= MARK_RATIO * hi
        paper = paper_level(grey, small, light_paper)
    ink = paper - grey if light_paper else grey - paper
    return np.clip(ink, 0.0, 255.0, out=ink).astype(np.float32, copy=False), bool(flat)


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
        level = _extended_rank_filter(level, k, second)  # (a dark-paper digit: often all 0 after the first)
        level, strokes = _paper_between_strokes(small, level, light_paper, k)
        if level.shape != grey.shape:
            # A step of the level off the strokes (a shadow's edge, a sheet's edge on a desk) moves
            # onto its light side before enlarging, where it would spread onto the dark side as ink:
            # there the light side takes the darkest (lightest, on dark paper) level of its 3x3.
            dark = _rank_filter(level, 3, np.minimum if light_paper else np.maximum)
            off_strokes = ~ndimage.maximum_filter(strokes, size=3, mode="constant", cval=False)
            level = np.where(off_strokes & (np.abs(level - dark) > STEP), dark, level)
    if level.shape == grey.shape:
        return level
    return _pixels(_image(level).resize((w, h), Image.Resampling.BILINEAR))


def _paper_between_strokes(
    small: Grey, closed: Grey, light_paper: bool, k: int
) -> tuple[Grey, npt.NDArray[np.bool_]]:
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
    mean = np.where(near, total / np.where(near, weight, np.float32(1.0)), closed)
    # Off the strokes, the closing where it is the darker (lighter, on dark paper): on the dark side
    # of a step of the paper's level (a sheet's edge on a desk) the mean blurs the step into a halo.
    if light_paper:
        return np.where(strokes, mean, np.minimum(mean, closed)).astype(np.float32), strokes
    return np.where(strokes, mean, np.maximum(mean, closed)).astype(np.float32), strokes


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


def _extended_rank_filter(x: Grey, k: int, reduce: np.ufunc) -> Grey:
    """The closing's second filter: the edges padded by their odd reflection, so that the paper level
    follows a ramp of light past the frame's edge instead of overshooting into its dim side; the
    padding's slope at most RAMP of 0..255 over the longer side (a dark strip at the edge is a step,
    not a ramp)."""
    pad = k // 2
    limit = RAMP * 255.0 / max(x.shape)
    for axis in (0, 1):
        rows = np.moveaxis(x, axis, 0)
        n = rows.shape[0]
        if not 0 < pad < n:
            padded = np.concatenate([rows[:1].repeat(pad, 0), rows, rows[-1:].repeat(pad, 0)])
        else:
            before = [
                np.clip(2 * rows[0] - rows[d], rows[0] - d * limit, rows[0] + d * limit)
                for d in range(pad, 0, -1)
            ]
            after = [
                np.clip(2 * rows[-1] - rows[-1 - d], rows[-1] - d * limit, rows[-1] + d * limit)
                for d in range(1, pad + 1)
            ]
            padded = np.concatenate([np.stack(before), rows, np.stack(after)]).astype(np.float32)
        out = padded[:n].copy()
        for shift in range(1, k):
            reduce(out, padded[shift : shift + n], out=out)
        x = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(x, np.float32)


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
    flat_paper: bool = False  # the upload's paper is one exact level (MNIST form, a drawing)


def levels(ink: Grey, flat_paper: bool = False) -> Levels:
    """Paper statistics from the pixels below Otsu's threshold (robust to how much ink there is).

    The texture's spread is measured on a high-pass (each pixel minus its 3x3 mean), so that shading
    the paper level missed raises the median, not the spread.
    """
    stride = max(1, int(np.sqrt(ink.size / SAMPLE)))
    sample = ink[::stride, ::stride]
    floor = float(np.minimum.reduce(sample, None))
    if sample.size <= 16 or np.count_nonzero(sample == floor) > FLAT * sample.size:
        return Levels(floor, floor + LOW_MIN, floor + MIN_CONTRAST, flat_paper)  # a flat ink map
    below = sample <= otsu(sample.astype(np.uint8))  # ink is 0..255: truncation keeps the order
    if not below.any():
        below = np.ones_like(below)
    paper = sample[below]
    median = _median(paper)
    local = ndimage.uniform_filter(sample, 3, mode="nearest")
    detail = (sample - local)[below]
    sigma = 1.4826 * _median(np.abs(detail - np.float32(_median(detail))))
    low = median + max(LOW_SIGMAS * sigma, LOW_MIN)
    return Levels(median, low, median + max(HIGH_SIGMAS * sigma, MIN_CONTRAST), flat_paper)


TEXTURE_MARGIN = 0.3  # ... more than a band beside it does there (a desk's grain inks them alike)
RULED_GAP = 0.03  # ... and is cleared as far as it is inked from a side, across gaps this short
FAINT_MARK, RIVAL_SIZE = 2.5, 0.3  # a mark this many times fainter than a stroke this big (of it)
ONE_WIDTH = 0.1  # a lone upright stroke from edge to edge this narrow (of the frame) is a 1
FAINT_SPAN = 2.5  # a mark across the frame this many times fainter than another is not the digit
MAX_TILT = np.tan(np.deg2rad(12.0))  # ruled lines are looked for at every slope up to this (a photo's tilt)
COARSE, COARSE_SIDE = 4, 64  # ... and up to 45 degrees near the slopes with lines on a view shrunk k times
CHORD_MIN = 0.25  # a line's stretch inside the frame shorter than this of its width is not judged
FAMILY = 0.05  # a line steeper than MAX_TILT is cleared only beside another within this slope of it
LINE_DARKER = 1.6  # pixels of a cleared line this many times darker than the lines: a stroke on it
LINE_OWN = 0.25  # ... or than this quantile of the line's own darkness along it, if that is higher


def ruled_lines(mask: Mask) -> list[tuple[int, npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """The thin lines that cross most of the frame (ruled or squared paper), each as (axis, rows,
    columns) of its pixels in the view of that axis (the mask, or its transpose for upright lines).

    For slopes up to MAX_TILT, in steps that move a line's ends by 1.5 px, the ink pixels are counted
    along lines of that slope through the frame's centre (a projection; each count over 3 neighbouring
    lines, so that a line between two steps is still whole). A thin peak of the counts, at most
    RULED_THICK of the frame thick and holding ink along RULED_SPAN of its width, whose pixels reach
    across RULED_SPAN of it and run off one side, is a ruled line: each is cleared at the one slope
    that fits it best. Then the same for columns, found in the mask as it came (not after clearing
    the rows' lines, which cuts gaps in the columns' lines). The one line found in the frame, in
    either direction, is left when what would be cleared of it misses the first or the last column
    of its direction: a tight crop's stem ending on paper, not ruled paper (which shows several).
    """
    if min(mask.shape) < RULED_MIN_SIDE:
        return []
    lines = []  # (axis, rows, columns) of each line's pixels to clear
    for axis in (0, 1):  # horizontal lines, then vertical ones (as horizontal lines of the transpose)
        view = mask if axis == 0 else mask.T
        rows, cols = np.nonzero(view)
        w = view.shape[1]
        if rows.size < RULED_SPAN * w:
            continue
        for clear in _ruled_pixels(view, rows, cols - w / 2, axis == 1):
            lines.append((axis, rows[clear], cols[clear]))
    if len(lines) == 1:
        axis, rows, cols = lines[0]
        last = (mask if axis == 0 else mask.T).shape[1] - 1
        if cols.size == 0 or int(cols.min()) > 0 or int(cols.max()) < last:
            return []
    return lines


def without_ruled_lines(mask: Mask) -> Mask:
    """The mask with the pixels of its `ruled_lines` cleared (itself if there are none)."""
    lines = ruled_lines(mask)
    if not lines:
        return mask
    out = mask.copy()
    for axis, rows, cols in lines:
        target = out if axis == 0 else out.T
        target[rows, cols] = False
    return out


def strokes_on_lines(mask: Mask, ink: Grey, lv: Levels) -> Mask:
    """The pixels of the mask's ruled lines that are a stroke lying along one (a 7's bar on a squared
    sheet's line): over the strong threshold and over LINE_DARKER times the larger of the median ink
    of all the lines' pixels and LINE_OWN of the way up the line's own darkness along its length
    (at each place along it, its darkest pixel across it: a margin's line is darker all along).
    A pixel on two lines (where they cross, maybe darker together) or failing either line stays out."""
    lines = ruled_lines(mask)
    on_lines = np.zeros(mask.shape, np.int32)
    for axis, rows, cols in lines:
        (on_lines if axis == 0 else on_lines.T)[rows, cols] += 1
    typical = float(np.median(ink[on_lines > 0]))
    passed, failed = np.zeros(mask.shape, bool), np.zeros(mask.shape, bool)
    for axis, rows, cols in lines:
        if rows.size == 0:
            continue
        values = (ink if axis == 0 else ink.T)[rows, cols]
        darkest = np.zeros(int(cols.max()) + 1, np.float64)
        np.maximum.at(darkest, cols, values)
        profile = np.sort(darkest[np.unique(cols)])
        own = float(profile[int((profile.size - 1) * LINE_OWN)])  # LINE_OWN of the way up, rounded down
        limit = max(lv.high, LINE_DARKER * max(typical, own))
        (passed if axis == 0 else passed.T)[rows[values > limit], cols[values > limit]] = True
        (failed if axis == 0 else failed.T)[rows[values <= limit], cols[values <= limit]] = True
    return passed & ~failed & (on_lines == 1)


def _top_hat(
    rows: npt.NDArray[np.intp], x: npt.NDArray[np.float64], slope: float, n: int, offset: int, band: int
) -> npt.NDArray[np.float64]:
    """The counts of the pixels (rows, x from the centre) on each of n lines of `slope`, over 3
    neighbouring lines, less their grey opening `band` lines wide (a line is a thin peak)."""
    counts = np.bincount(np.rint(rows + slope * x).astype(np.int64) + offset, minlength=n)
    counts = counts + np.roll(counts, 1) + np.roll(counts, -1)  # 3 neighbouring lines
    # A line is a thin peak of the projection above the rows around it (a top-hat), so the rows
    # that cross the digit, or the other direction's lines, are not taken for one.
    return (counts - ndimage.grey_opening(counts, size=band, mode="nearest")).astype(np.float64)


def _line_slopes(view: Mask, upright: bool) -> list[float]:
    """Every slope step (3 / w) up to MAX_TILT; beyond it, up to 45 degrees (columns: short of it),
    the steps within one coarse step of each slope at which the view shrunk k times (k = its shorter
    side over COARSE_SIDE, 1 to COARSE; a shrunk pixel is ink if any of its k x k is) holds a line."""
    h, w = view.shape
    step = 3.0 / w
    slopes = set(np.arange(-MAX_TILT, MAX_TILT + 1e-9, step).tolist())
    k = min(max(min(h, w) // COARSE_SIDE, 1), COARSE)
    hs, ws = h // k, w // k
    small = np.zeros((hs, ws), bool)
    for dy in range(k):
        for dx in range(k):
            small |= view[dy : hs * k : k, dx : ws * k : k]
    rows, cols = np.nonzero(small)
    if rows.size >= RULED_SPAN * ws:
        top = 1.0 - step if upright else 1.0 + 1e-9
        positive = np.arange(MAX_TILT, top, 3.0 / ws)
        offset = int(np.ceil(ws / 2)) + 2
        band = max(5, int(2 * RULED_THICK * hs) | 1)
        for slope in np.concatenate((-positive[::-1], positive)).tolist():
            if _top_hat(rows, cols - ws / 2, slope, hs + 2 * offset, offset, band).max() >= RULED_SPAN * ws:
                for j in range(-k, k + 1):
                    near = slope + j * step
                    if abs(near) > MAX_TILT and (abs(near) < 1.0 if upright else abs(near) < 1.0 + 1e-9):
                        slopes.add(near)
    return sorted(slopes)


def _ruled_pixels(
    view: Mask, rows: npt.NDArray[np.intp], x: npt.NDArray[np.float64], upright: bool
) -> list[Mask]:
    """Which of the ink pixels (rows, x from the centre) of `view` lie on each ruled line. A line is
    judged on its chord, its stretch inside the frame (a turned sheet's line may cross a corner)."""
    h, w = view.shape
    band = max(5, int(2 * RULED_THICK * h) | 1)
    slopes = np.array(_line_slopes(view, upright))
    offset = int(np.ceil(np.abs(slopes).max() * w / 2)) + 2
    n = h + 2 * offset
    fill = np.zeros((len(slopes), n))
    ends = np.zeros((len(slopes), n, 2))
    for k, slope in enumerate(slopes.tolist()):
        excess = _top_hat(rows, x, slope, n, offset, band)
        for i in range(n):
            ends[k, i] = _chord(i - offset, slope, h, w)
        length = ends[k, :, 1] - ends[k, :, 0]
        judged = length >= CHORD_MIN * w
        fill[k, judged] = excess[judged] / (RULED_SPAN * np.maximum(length[judged], 1.0))
    excess = fill
    # Peaks of lines up to MAX_TILT, then of steeper ones rising, then falling, each group on its own
    # (at 45 degrees a squared sheet's two families would share the projection's places).
    listed = slopes.tolist()
    candidates = []  # (the line's centre, its best slope)
    for members in (
        [k for k, s in enumerate(listed) if abs(s) <= MAX_TILT],
        [k for k, s in enumerate(listed) if s > MAX_TILT],
        [k for k, s in enumerate(listed) if s < -MAX_TILT],
    ):
        if not members:
            continue
        best = excess[members].max(axis=0)
        runs, count = ndimage.label(best >= 1.0)
        for run in ndimage.find_objects(runs)[:count]:
            i = run[0].start + int(np.argmax(best[run]))
            candidates.append((i, members[int(np.argmax(excess[members, i]))]))
    lines = []
    taken = np.zeros(rows.size, bool)  # the pixels of the lines found so far
    for i, k in candidates:
        flat = [slope for slope, _ in lines if abs(slope) <= MAX_TILT]
        if abs(slopes[k]) > MAX_TILT and [s for s in flat if abs(s - slopes[k]) <= FAMILY]:
            continue  # a corner of a sheet's line up to MAX_TILT, found again as a steep one: left
        thick = excess[k] >= 1.0
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
        # It runs off a side when it inks that side's last column and, in each of the side's last
        # RULED_RUN stretches of RULED_EDGE of the width, half the columns: a digit's stroke cropped
        # tight ends inside the frame, and specks of grain beyond a digit's bar do not reach it.
        # Pixels of the band inside a solid region (ink at the four diagonal points d = its
        # thickness + 2 away: a strip of desk along a side, not a crossing line) do not count.
        d = hi - lo + 3
        keep = []
        for r, xx in zip(rows[on_line].tolist(), x[on_line].tolist(), strict=True):
            c = int(xx + w / 2)
            corners = [
                view[min(max(r + dy, 0), h - 1), min(max(c + dx, 0), w - 1)]
                for dy in (-d, d)
                for dx in (-d, d)
            ]
            keep.append(not all(corners))
        # From here on, x is measured from the centre of the line's chord (xs), `chord` px long.
        centre = (ends[k, i, 0] + ends[k, i, 1]) / 2
        chord = max(2, round(float(ends[k, i, 1] - ends[k, i, 0])))
        xs = x - centre
        along = xs[on_line][np.array(keep, bool)] if keep else xs[on_line]
        # The bands d lines above and below the band: where a line runs off a side it inks
        # TEXTURE_MARGIN of the columns there more than the less inked of the two; grain inks all
        # three alike (a line along a desk's edge has paper in one of them).
        beside = [
            set(
                np.clip(np.floor(xs[(index >= lo - 1 + s) & (index <= hi + 1 + s)] + chord / 2), 0, chord - 1)
                .astype(int)
                .tolist()
            )
            for s in (-d, d)
        ]
        if along.size and float(along.max()) - float(along.min()) >= RULED_SPAN * chord:
            columns = set(np.clip(np.floor(along + chord / 2), 0, chord - 1).astype(int).tolist())
            near = max(2, round(RULED_EDGE * chord))
            for edge, step in ((0, 1), (chord - 1, -1)):
                stretches = [
                    sum(edge + step * (j * near + i) in columns for i in range(near))
                    for j in range(RULED_RUN)
                ]
                last = [edge + step * i for i in range(min(near * RULED_RUN, chord))]
                own = sum(c in columns for c in last) / len(last)
                texture = min(sum(c in b for c in last) / len(last) for b in beside)
                if (
                    edge in columns
                    and all(c >= near / 2 for c in stretches)
                    and own - texture >= TEXTURE_MARGIN
                ):
                    line = _inked_from_a_side(xs, on_line, chord)
                    twice = 2 * int((line & taken).sum()) > int(line.sum())  # mostly on a line found
                    if abs(slopes[k]) <= MAX_TILT or not twice:
                        lines.append((slopes[k], line))
                        taken |= line
                    break
    kept = []
    for slope, line in lines:  # a steep line alone at its slope is a digit's stroke, not a sheet's lines
        alike = [other for other, _ in lines if abs(other - slope) <= FAMILY]
        if abs(slope) <= MAX_TILT or len(alike) >= 2:
            kept.append(line)
    return kept


def _chord(c: int, slope: float, h: int, w: int) -> tuple[float, float]:
    """Where the line row = c - slope * x (x from the centre) enters and leaves the h x w frame: the x
    at rows -0.5 and h - 0.5. A line up to MAX_TILT is judged on the whole width, whatever c."""
    if abs(slope) <= MAX_TILT:
        return (-w / 2, w / 2)
    top, bottom = (c + 0.5) / slope, (c - h + 0.5) / slope
    return (min(max(min(top, bottom), -w / 2), w / 2), min(max(max(top, bottom), -w / 2), w / 2))


def _inked_from_a_side(x: npt.NDArray[np.float64], on_line: Mask, w: int) -> Mask:
    """A ruled line is cleared only as far as it is inked from a side of the frame, across gaps of
    at most RULED_GAP of the width (the sides count as ink): a desk's streaks on both sides of a
    small sheet line up with the digit's bar, which is not part of them. `x`: every ink pixel's,
    `on_line`: those of the line."""
    gap = max(1, round(RULED_GAP * w))
    column = np.clip(np.floor(x + w / 2), 0, w - 1).astype(int)
    columns = sorted(set(column[on_line].tolist()))
    left = -1  # the last column of the run from the left side
    for c in columns:
        if c - left - 1 > gap:
            break
        left = c
    right = w  # the first column of the run from the right side
    for c in reversed(columns):
        if right - c - 1 > gap:
            break
        right = c
    return on_line & ((column <= left) | (column >= right))


# Box outlines (app/predictors/ruled.py): a printed box that the digit touches is one mark with it.
OUTLINE_SIZE = 0.2  # a mark this big (of the frame's shorter side) may be a box round the digit
OUTLINE_FULL = 0.85  # its sides: the outermost rows (columns) inked across this much of it
OUTLINE_THICK = 0.05  # ... in a run at most this thick (of its height or width), in its outer third
OUTLINE_INNER = 0.1  # ... and this much of the mark left inside once they are gone (the digit)
OUTLINE_CRUMB = 0.02  # pieces of what is left this small (of it) go with the outline


def without_box_outlines(mask: Mask) -> Mask:
    """The mask with the four sides of each box that a digit touches cleared, but where they cross
    the digit's strokes (LINE_MEND px of them)."""
    h, w = mask.shape
    if min(h, w) < RULED_MIN_SIDE:
        return mask
    labels, n = ndimage.label(mask, EIGHT)
    out, changed = mask.copy(), False
    for label in range(1, n + 1):
        ys, xs = np.nonzero(labels == label)
        top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        if min(bottom - top, right - left) < OUTLINE_SIZE * min(h, w):
            continue
        mark = labels[top:bottom, left:right] == label
        outline = _box_outline(mark)
        if outline is None:
            continue
        crossing = ndimage.binary_dilation(mark & ~outline, EIGHT, LINE_MEND)
        window = out[top:bottom, left:right]
        window[outline & ~crossing] = False
        changed = True
    return out if changed else mask


def _box_outline(mark: Mask) -> Mask | None:
    """The pixels of the box's sides in a mark's window (and crumbs beside them), or None."""
    bands = None
    for transpose in (False, True):  # top and bottom, then the sides between them; or the reverse
        m = mark.T if transpose else mark
        rows = _outer_full_runs(m)
        if rows is None:
            continue
        cols = _outer_full_runs(m[rows[0][0] : rows[1][1]].T)
        if cols is None:
            continue
        bands = np.zeros(m.shape, bool)
        for lo, hi in rows:
            bands[max(lo - 1, 0) : min(hi + 1, m.shape[0]), :] = True
        for lo, hi in cols:
            bands[:, max(lo - 1, 0) : min(hi + 1, m.shape[1])] = True
        bands = bands.T if transpose else bands
        break
    if bands is None:
        return None
    outline = bands & mark
    rest = mark & ~outline
    inner = int(np.count_nonzero(rest))
    if inner < OUTLINE_INNER * int(np.count_nonzero(mark)):
        return None
    parts, k = ndimage.label(rest, EIGHT)
    for p in range(1, k + 1):
        piece = parts == p
        if np.count_nonzero(piece) < OUTLINE_CRUMB * inner:
            outline |= piece
    return outline


def _outer_full_runs(m: Mask) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(start, stop) of the first run of full rows from the top and from the bottom, if each lies in
    its third and is thin; None otherwise."""
    n, width = m.shape
    full = [int(np.count_nonzero(m[i])) >= OUTLINE_FULL * width for i in range(n)]
    thick = max(2, int(OUTLINE_THICK * n))
    runs = []
    for order in (list(range(n)), list(range(n - 1, -1, -1))):
        at = next((pos for pos, i in enumerate(order) if full[i]), None)
        if at is None or at >= n // 3:
            return None
        length = 0
        while at + length < n and full[order[at + length]]:
            length += 1
        if length > thick:
            return None
        lines = order[at : at + length]
        runs.append((min(lines), max(lines) + 1))
    return runs[0], runs[1]


# Border bars (app/predictors/bars.py): a pen, a table strip's edge, a narrow strip.
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
FAT_STROKE = 0.06  # of the shorter side: a bar this thick may be a tight crop's stroke ...
STROKE_SHARE = 0.5  # ... when thinner than the rest of its mark, but at least this share of it
SAME_INK = 1.25  # ... and its mean ink within this factor of the rest's


def without_border_bars(
    mask: Mask,
    labels: npt.NDArray[np.int32],
    ink: Grey,
    candidates: list[int],
    flat_paper: bool = False,
) -> Mask:
    """The mask with the border bars of the marks `candidates` (labels touching the border) cleared.

    On flat paper (a drawing made on a screen) a bar is cut only if it crosses the frame: its
    pixels touch two of the frame's sides.
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
        long_contacts = _long_contacts(labels, label)
        strips = _strips(mark, long_contacts)
        bars = strips.copy()
        for start, normal, width in _contacts(labels, label, h, w):
            local = (start[0] - rows.start, start[1] - cols.start)
            bar = _bar(mark, ink[window], local, normal, width, min(h, w))
            ys, xs = np.nonzero(bar)
            ys, xs = ys + rows.start, xs + cols.start  # in the frame
            sides = {0 for y in ys if y == 0} | {1 for y in ys if y == h - 1}
            sides |= {2 for x in xs if x == 0} | {3 for x in xs if x == w - 1}
            # A mark lying along no side whose rest, without the bar, touches the side facing the
            # bar's, which the bar does not reach: the digit fills the frame from side to side (a
            # tight crop's stem), no pen lies there.
            ry, rx = np.nonzero(mark & ~bar)
            ry, rx = ry + rows.start, rx + cols.start
            far = {(1.0, 0.0): 1, (-1.0, 0.0): 0, (0.0, 1.0): 3}.get(normal, 2)
            facing = {(1.0, 0.0): ry == h - 1, (-1.0, 0.0): ry == 0, (0.0, 1.0): rx == w - 1}
            if not long_contacts and far not in sides and facing.get(normal, rx == 0).any():
                continue
            # A fat bar (FAT_STROKE of the shorter side) thinner than the rest of the mark (strips
            # left out), but at least STROKE_SHARE as thick, is one of its strokes: a tight crop's.
            # ... and about as dark: its mean ink within SAME_INK of the rest's (a pen's is its own).
            rest = mark & ~bar & ~strips
            bar_width, rest_width = _stroke_width(bar), _stroke_width(rest)
            if rest.any() and bar_width >= FAT_STROKE * min(h, w):
                bar_ink, rest_ink = float(ink[window][bar].mean()), float(ink[window][rest].mean())
                same_ink = max(bar_ink, rest_ink) < SAME_INK * min(bar_ink, rest_ink)
                if same_ink and STROKE_SHARE * rest_width <= bar_width < rest_width:
                    continue
            if not flat_paper or len(sides) >= 2:
                bars |= bar
        rest = _pieces_kept(mark & ~bars) if bars.any() else None
        if rest is not None and np.count_nonzero(rest) >= KEEP * np.count_nonzero(mark & ~strips):
            out = out.copy() if out is mask else out
            out[window] &= ~mark | rest
    return out


def _stroke_width(part: Mask) -> float:
    """Twice the 95th percentile of the part's pixels' Euclidean distances to the nearest paper
    pixel (0 for no pixels)."""
    if not part.any():
        return 0.0
    distances = ndimage.distance_transform_edt(part)
    return 2.0 * float(np.percentile(distances[part], 95.0))


def _pieces_kept(rest: Mask) -> Mask:
    """The pieces a cleared bar left, without the stubs: those under STUB of the largest one's pixels."""
    pieces, n = ndimage.label(rest, EIGHT)
    if n <= 1:
        return rest
    sizes = np.bincount(pieces.ravel())[1:]
    keep = np.flatnonzero(sizes >= STUB * sizes.max()) + 1
    return np.isin(pieces, keep)


def _long_contacts(labels: npt.NDArray[np.int32], label: int) -> list[int]:
    """The sides (0 top, 1 bottom, 2 left, 3 right) the mark touches along more than MAX_CONTACT."""
    h, w = labels.shape
    edges = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    out = []
    for i, e in enumerate(edges):  # a strip runs along the side to within CORNER of one of its ends
        at = np.flatnonzero(e == label)
        corner = max(2, int(CORNER * e.size))
        if at.size > MAX_CONTACT * min(h, w) and (at[0] < corner or at[-1] >= e.size - corner):
            out.append(i)
    return out


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


def _contacts(
    labels: npt.NDArray[np.int32], label: int, h: int, w: int
) -> list[tuple[tuple[float, float], tuple[float, float], float]]:
    """(centre, inward normal, length) of each run of the mark's pixels along each side of the frame."""
    sides = (
        (labels[0] == label, lambda i: (0.0, i), (1.0, 0.0)),
        (labels[-1] == label, lambda i: (h - 1.0, i), (-1.0, 0.0)),
        (labels[:, 0] == label, lambda i: (i, 0.0), (0.0, 1.0)),
        (labels[:, -1] == label, lambda i: (i, w - 1.0), (0.0, -1.0)),
    )
    out = []
    for line, point, normal in sides:
        runs, n = ndimage.label(line)
        for run in ndimage.find_objects(runs)[:n]:
            length = run[0].stop - run[0].start
            if 2 <= length <= MAX_CONTACT * min(h, w):
                out.append((point((run[0].start + run[0].stop - 1) / 2), normal, float(length)))
    return out


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
    lines_cleared = bool((candidate & ~mask).any())  # then a dash under the digit may be its lower part
    # All the strong ink cleared, and it was one mark at most ONE_WIDTH of the frame wide: the line
    # was a 1 cropped to fill the frame, not ruled paper with nothing on it.
    strong = ink > lv.high
    parts, count = ndimage.label(strong, EIGHT)
    lone_stroke = False
    if mask is not candidate and not (mask & strong).any() and count == 1:
        xs = np.nonzero(parts)[1]
        lone_stroke = xs.max() - xs.min() + 1 <= ONE_WIDTH * ink.shape[1]
    if lone_stroke:
        mask, lines_cleared = candidate, False
    elif mask is not candidate:
        # A cleared line's pixels far darker than the lines are a stroke lying along it: put back.
        mask = mask | strokes_on_lines(candidate, ink, lv)
        # Then mend the strokes a cleared line cut: its pixels right beside ink.
        mask = mask | (candidate & ndimage.binary_dilation(mask, EIGHT, LINE_MEND))
    mask = without_box_outlines(mask)
    labels, n = ndimage.label(mask, EIGHT)
    if n == 1 and not _touches_border(mask):  # one mark clear of the border (most drawings): the digit
        if float(np.maximum.reduce(ink, None)) <= lv.high:
            return None
        kept = [1]
    else:
        found = marks(labels, ink, lv) if n else []
        # Border objects, marks spanning the frame, and any mark with a pixel on the frame's edge.
        on_edge = {int(v) for v in labels[0]} | {int(v) for v in labels[-1]}
        on_edge |= {int(v) for v in labels[:, 0]} | {int(v) for v in labels[:, -1]}
        barred = [m.label for m in found if m.junk or m.spans(labels.shape) or m.label in on_edge]
        cleared = without_border_bars(mask, labels, ink, barred, lv.flat_paper) if barred else mask
        if cleared is not mask:  # a pen or a strip's edge cut off the digit it touched
            labels, n = ndimage.label(cleared, EIGHT)
            found = marks(labels, ink, lv) if n else []
        tight = any(m.fills_frame for m in found)  # a digit cropped to fill the frame is not split
        if found and not tight and all(m.junk for m in found):  # a digit merged with a shadow?
            labels = split_junk(labels, ink, found, lv)
            found = marks(labels, ink, lv)
        if not found:
            return None
        kept = choose_digit(found, labels.shape, lines_cleared)
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
    area: int = 1
    loose_line: bool = False  # junk only for being a long straight line clear of the border
    fills_frame: bool = False  # junk, but maybe a digit cropped to fill the frame

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

    @property
    def size(self) -> int:
        """The longer side of the mark's box."""
        return max(self.box[1] - self.box[0], self.box[3] - self.box[2])

    def spans(self, shape: tuple[int, int]) -> bool:
        """The mark reaches across the frame (a strip's edge, maybe with the digit on it)."""
        return self.box[3] - self.box[2] >= SPAN * shape[1] or self.box[1] - self.box[0] >= SPAN * shape[0]

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
        if line and contact[label] == 0:
            # Clear of the border, a long thin mark is a line only if it is straight: the spread of
            # its pixels across their main direction (the smaller principal axis of their second
            # moments) is under STRAIGHT of their spread along it. A thin-pen 7 is not.
            ys, xs = np.nonzero(labels[rows, cols] == label)
            vy, vx = float(np.var(ys)), float(np.var(xs))
            cv = float(np.mean((ys - ys.mean()) * (xs - xs.mean())))
            half, root = (vy + vx) / 2, float(np.hypot((vy - vx) / 2, cv))
            line = np.sqrt(max(half - root, 0.0) / max(half + root, 1e-9)) < STRAIGHT
        loose = bool(line) and not touching and not framing and contact[label] == 0
        out.append(Mark(label, float(m), box, bool(touching or framing or line), int(areas[label]), loose))
    # A frame round the digit (a form's cell, a circle): a mark at least BOX_SIZE of the frame's
    # side (and four times the stroke it would have as a box's outline) round a mark that is not a
    # dot, holds at least BOX_INNER of its ink, is at least BOX_INNER_SIZE of its longer side, and
    # lies in its bounding box: either more than half of that mark's pixels are in a hole of it
    # (fill its holes, take away the mark), or its ink runs along BOX_SIDE of each side of its
    # bounding box, within twice that stroke.
    framing_marks = []
    for outer in out:
        if outer.junk:
            continue
        ob = outer.box
        inner = []
        for m in out:
            inside = ob[0] <= m.box[0] and m.box[1] <= ob[1] and ob[2] <= m.box[2] and m.box[3] <= ob[3]
            big = max(m.box[1] - m.box[0], m.box[3] - m.box[2]) >= BOX_INNER_SIZE * max(
                ob[1] - ob[0], ob[3] - ob[2]
            )
            if m is not outer and inside and not m.solid and m.mass >= BOX_INNER * outer.mass and big:
                inner.append(m)
        bh, bw = ob[1] - ob[0], ob[3] - ob[2]
        depth = max(2, math.ceil(outer.area / (bh + bw)))
        if not inner or min(bh, bw) < max(BOX_SIZE * min(h, w), 4 * depth):
            continue
        window = labels[ob[0] : ob[1], ob[2] : ob[3]]
        mark = window == outer.label
        hole = ndimage.binary_fill_holes(mark) & ~mark
        if any(np.sum(hole & (window == m.label)) > m.area / 2 for m in inner):
            framing_marks.append(outer)
            continue
        covered = [
            np.mean([mark[:depth, x].any() for x in range(bw)]),
            np.mean([mark[bh - depth :, x].any() for x in range(bw)]),
            np.mean([mark[y, :depth].any() for y in range(bh)]),
            np.mean([mark[y, bw - depth :].any() for y in range(bh)]),
        ]
        if min(covered) >= BOX_SIDE:
            framing_marks.append(outer)
    for outer in framing_marks:
        outer.junk = True
    # A mark whose box reaches from one side of the frame to the opposite one, with a mean ink under
    # 1 / FAINT_SPAN of the darkest plausible mark's, is junk (a desk's grain round a small sheet).
    others = [m for m in out if not m.junk]
    if len(others) > 1:
        darkest = max(m.mass / max(m.area, 1) for m in others)
        for m in others:
            top, bottom, left, right = m.box
            across = (left == 0 and right == w) or (top == 0 and bottom == h)
            if across and FAINT_SPAN * m.mass / max(m.area, 1) < darkest:
                m.junk = True
    # A junk mark but a loose line may be a digit cropped to fill the frame: its pixels fill at most
    # TIGHT_FILL of its box, which spans TIGHT_SPAN of the frame's height or width; it meets the
    # frame's outermost rows and columns in 1 to TIGHT_CROSSINGS runs, inking none of them over
    # TIGHT_ALONG of its length (a desk round a sheet, a shadow, a strip lie along a side); it is
    # not straight (a pen); and every plausible mark is a dot, under SPECK_SIZE of its size, or has a
    # pixel within TIGHT_NEAR of the frame's shorter side of its pixels (8-connected steps): no small
    # digit in a circle the frame cuts.
    plausible = [m for m in out if not m.junk]
    steps = max(2, round(TIGHT_NEAR * min(h, w)))
    for m in out:
        top, bottom, left, right = m.box
        bh, bw = bottom - top, right - left
        if not m.junk or m.loose_line or m.area > TIGHT_FILL * bh * bw:
            continue
        if bh < TIGHT_SPAN * h and bw < TIGHT_SPAN * w:
            continue
        runs, along = 0, 0.0
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            on = (edge == m.label).tolist()
            along = max(along, sum(on) / len(on))
            runs += sum(1 for i, v in enumerate(on) if v and (i == 0 or not on[i - 1]))
        if along > TIGHT_ALONG or not 1 <= runs <= TIGHT_CROSSINGS:
            continue
        if _spread(labels[top:bottom, left:right] == m.label) >= STRAIGHT:
            grown = ndimage.binary_dilation(labels == m.label, np.ones((3, 3), bool), steps)
            m.fills_frame = all(
                p.solid or p.size < SPECK_SIZE * m.size or bool(np.any(grown & (labels == p.label)))
                for p in plausible
            )
    return out


def _spread(mark: Mask) -> float:
    """Root of the ratio of the smaller to the larger principal second moment of the pixels."""
    ys, xs = np.nonzero(mark)
    vy, vx = float(np.var(ys)), float(np.var(xs))
    cv = float(np.mean((ys - ys.mean()) * (xs - xs.mean())))
    half, root = (vy + vx) / 2, float(np.hypot((vy - vx) / 2, cv))
    return float(np.sqrt(max(half - root, 0.0) / max(half + root, 1e-9)))


def choose_digit(found: list[Mark], shape: tuple[int, int], lines_cleared: bool = False) -> list[int]:
    """Labels of the digit's marks: the heaviest plausible mark (central ones preferred) and its parts."""
    plausible = [m for m in found if not m.junk]
    # The heaviest mark that may be a digit filling the frame is plausible when the plausible marks
    # hold under TIGHT_SHARE of its ink: they are specks beside it (a 5's dot, a piece of it).
    crops = [m for m in found if m.fills_frame]
    if crops:
        crop = max(crops, key=lambda m: m.mass)
        if sum(m.mass for m in plausible) < TIGHT_SHARE * crop.mass:
            plausible = [*plausible, crop]
    # Beside nothing but dots and specks (marks under SPECK_SIZE of its size), a long straight stroke
    # clear of the border is an upright 1 cropped tight, not a ruled line.
    longest = max((m.size for m in found if m.loose_line), default=0)
    # Dashes (underlines) count as such marks too: no digit is a dash.
    if plausible and longest and all(m.dash or m.solid or m.size < SPECK_SIZE * longest for m in plausible):
        plausible = plausible + [m for m in found if m.loose_line]
    plausible = plausible or found  # nothing but border marks: the old behaviour
    h, w = shape

    def weight(m: Mark) -> float:
        cy, cx = (m.box[0] + m.box[1]) / 2 / h - 0.5, (m.box[2] + m.box[3]) / 2 / w - 0.5
        # A quarter for a blot or a dash beside a fainter digit, and for a mark beside a plausible
        # mark that is not a dash, fills at most SOLID_FILL of its box (or stands DASH times taller
        # than wide: a 1), is at least RIVAL_SIZE of its size and FAINT_MARK times darker (a desk's
        # halo round a small sheet, beside the digit).
        darker = []
        for r in plausible:
            rh, rw = r.box[1] - r.box[0], r.box[3] - r.box[2]
            stroke_like = not r.dash and (r.area <= SOLID_FILL * rh * rw or rh >= DASH * rw)
            if stroke_like and r.size >= RIVAL_SIZE * m.size and r.level > FAINT_MARK * m.level:
                darker.append(r)
        unlike = 0.25 if m.solid or m.dash or darker else 1.0
        return unlike * m.mass * (1.0 - 0.6 * min(1.0, 2.0 * float(np.hypot(cy, cx))))

    main = max(plausible, key=weight)
    kept, box = [main], main.box
    size = max(box[1] - box[0], box[3] - box[2])
    grew = True
    while grew:
        grew = False
        for m in plausible:
            if m in kept or m.mass < PART_MASS * main.mass or m.gap(box) > NEAR * size:
                continue
            if not lines_cleared and m.dash and m.box[0] >= box[1]:  # a dash wholly below what is kept so far
                wide, tall, kept_wide = m.box[3] - m.box[2], m.box[1] - m.box[0], box[3] - box[2]
                if wide >= kept_wide or (2 * wide >= kept_wide and wide >= UNDERLINE * tall):
                    continue  # as wide, or a thin line half as wide: an underline, not a part
            if not 1 / PART_LEVEL < m.level / max(main.level, 1e-6) < PART_LEVEL:
                continue  # much darker or fainter than the digit: another pen's mark
            kept.append(m)
            box = (min(box[0], m.box[0]), max(box[1], m.box[1]), min(box[2], m.box[2]), max(box[3], m.box[3]))
            grew = True
    return [m.label for m in kept]


FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "AVIF", "HEIF")
# File signatures of those formats: a file that starts like one but does not open is corrupt (422), not 415.
SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8", b"II*\x00", b"MM\x00*")
# The brands of an ISO media file's `ftyp` box (bytes 8-12) that are HEIF (HEIC: the iPhone
# camera's format, read by pillow-heif) or AVIF (read by Pillow itself).
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
AVIF_BRANDS = (b"avif", b"avis")
WORK_SIDE = 1024  # larger pictures are reduced (box filter) to at most this before the analysis
DRAFT_SIDE = 480  # a large JPEG is decoded at the smallest DCT scale that keeps this (12 MP: 1/8)
STROKE_SIDE = 4 * DIGIT_BOX  # strokes are measured on a copy this big (px, longer side)
MNIST_STROKE = 10.0  # MNIST's median stroke there (2.6 px of the 20 px box, times 4)
THIN_STROKE = 0.6  # strokes thinner than this fraction of MNIST's are widened to about MNIST's
ORIENTATION = 0x0112  # the EXIF tag that exif_transpose reads

# Pictures over the limit are refused from their header (413) before PIL's own check would warn;
# the filter is set once here, not per call (catch_warnings is not thread-safe).
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def set_pixel_limit(max_pixels: int) -> None:
    """PIL's own decompression-bomb limit: it refuses at twice this many pixels, even in frames."""
    Image.MAX_IMAGE_PIXELS = max_pixels


class NoInkError(InvalidInput):
    """Raised when an image holds no mark that stands out from its background."""

    code = "no_ink"


class DecodeError(InvalidInput):
    """Raised for an empty, truncated or corrupt image file."""

    code = "corrupt_image"


def decode_image(data: bytes, max_pixels: int) -> Grey:
    """Bytes of a PNG/JPEG/BMP/GIF/WebP/TIFF/AVIF/HEIC picture -> grey float32 (H, W) in 0..255."""
    if not data:
        raise DecodeError("the uploaded file is empty")
    brand = data[8:12] if data[4:8] == b"ftyp" else None
    if brand in HEIF_BRANDS:
        _read_heif()
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image is over the limit of {max_pixels} pixels ({exc})") from None
    except Exception:  # UnidentifiedImageError and friends: not one of the formats we read
        if (
            data.startswith(SIGNATURES)
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
            or brand in HEIF_BRANDS + AVIF_BRANDS
        ):
            raise DecodeError("the image is truncated or corrupt (its header does not parse)") from None
        raise UnsupportedMediaType(f"not an image in a supported format ({', '.join(FORMATS)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"image is {width}x{height} pixels, over the limit of {max_pixels} pixels")
    try:
        return to_grey(_load_reduced(image))
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image has too many pixels ({exc})") from None
    except Exception as exc:  # truncated data, bad chunks, broken EXIF...
        raise DecodeError(f"the image is truncated or corrupt ({type(exc).__name__})") from None


def _read_heif() -> None:
    """Let PIL open HEIF, on the first one: pillow-heif costs ~7 MB in each process that imports it."""
    if "HEIF" not in Image.OPEN:
        from pillow_heif import register_heif_opener

        register_heif_opener()


def _load_reduced(image: Image.Image) -> Image.Image:
    """Decode the first frame (JPEG at a reduced DCT scale when large), reduce to ~WORK_SIDE, apply EXIF."""
    image.seek(0)  # GIF/TIFF: the first frame only
    if image.format == "JPEG" and max(image.size) > WORK_SIDE:
        # The JPEG's own 1/2, 1/4, 1/8 DCT scaling, keeping at least DRAFT_SIDE on the longer side:
        # draft keeps both sides >= the box asked for, so the box has the photo's aspect ratio.
        w, h = image.size
        r = DRAFT_SIDE / max(w, h)
        image.draft(image.mode, (max(1, math.ceil(w * r)), max(1, math.ceil(h * r))))
    image.load()
    factor = -(-max(image.size) // WORK_SIDE)
    if factor > 1 and image.mode not in ("P", "1"):  # palette/bilevel: reduced after conversion
        image = image.reduce(factor)
    if image.getexif().get(ORIENTATION, 1) == 1:
        return image  # exif_transpose would only copy it
    return ImageOps.exif_transpose(image) or image


def _backdrop(rgba: Image.Image) -> tuple[int, int, int, int]:
    """White behind a transparent picture, but black when what is opaque is a light drawing.

    A drawing on a transparent canvas is its strokes alone: black ones show on white, white or
    light ones (a dark-mode canvas) only on black. When most of the picture is opaque, that is the
    paper (transparent corners of a cut-out scan, or strokes cut out of it): white, as always.
    """
    opaque = np.asarray(rgba.getchannel("A")) > 127
    drawn = int(np.count_nonzero(opaque))
    if drawn == 0 or drawn * 2 >= opaque.size:
        return (255, 255, 255, 255)
    light = float(np.asarray(rgba.convert("L"))[opaque].mean()) > 127.5
    return (0, 0, 0, 255) if light else (255, 255, 255, 255)


def to_grey(image: Image.Image) -> Grey:
    """Composite transparency on its backdrop (`_backdrop`), then grey (H, W) float32 in 0..255."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return (np.asarray(image, dtype=np.float32) / 257.0).astype(np.float32)
    if image.mode in ("I", "F"):
        x = np.asarray(image, dtype=np.float32)
        lo, hi = float(x.min()), float(x.max())
        return ((x - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(x)).astype(np.float32)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, _backdrop(rgba)), rgba)
    if image.mode != "L":
        image = image.convert("L")
    width, height = image.size
    return np.frombuffer(image.tobytes(), np.uint8).reshape(height, width).astype(np.float32)


def _fit_image(image: Image.Image, side: int) -> Image.Image:
    """Scale so the longer side is `side` px, keeping the aspect ratio, anti-aliased (LANCZOS)."""
    w, h = image.size
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def stroke_width(ink: Grey) -> float:
    """Mean stroke width in pixels: twice the inked area over its boundary length (a line w wide: w)."""
    inked = ink > 127.5
    inner = inked[1:-1, 1:-1] & inked[:-2, 1:-1]  # pixels on the picture's border are never inner
    for neighbour in (inked[2:, 1:-1], inked[1:-1, :-2], inked[1:-1, 2:]):
        np.logical_and(inner, neighbour, out=inner)
    area = np.count_nonzero(inked)  # count_nonzero: ~5x faster than a bool sum
    edge = area - np.count_nonzero(inner)  # inner pixels are inked
    return 2.0 * float(area) / edge if edge else 0.0


def _widened(crop: Image.Image) -> Grey | None:
    """The crop with its strokes widened by a max filter, or None when they are thick enough.

    Pen strokes much thinner than MNIST's (a ballpoint on a big page) are widened; they are measured
    on a copy whose longer side is 4x the 20 px box, where MNIST strokes are about 10 px.
    """
    hi = _pixels(_fit_image(crop, STROKE_SIDE))
    width = stroke_width(hi)  # the same unclipped: clipping to 0..255 keeps each side of 127.5
    if width == 0.0 or width >= THIN_STROKE * MNIST_STROKE:
        return None
    k = round(MNIST_STROKE - width) | 1  # odd
    return _rank_filter(np.clip(hi, 0.0, 255.0), k, np.maximum) if k > 1 else None


def _mass_offset(box: Grey) -> tuple[int, int]:
    """(top, left) of the patch in 28x28 that puts its centre of mass at (14, 14), as MNIST does."""
    h, w = box.shape
    add = np.add.reduce  # what ndarray.sum calls, without its wrapper: the same sums, bit for bit
    total = float(add(box, None))
    cy = float(add(add(box, 1) * np.arange(h)) / total) if total > 0 else (h - 1) / 2
    cx = float(add(add(box, 0) * np.arange(w)) / total) if total > 0 else (w - 1) / 2
    top = min(max(round(IMAGE_SIZE / 2 - cy), 0), IMAGE_SIZE - h)
    left = min(max(round(IMAGE_SIZE / 2 - cx), 0), IMAGE_SIZE - w)
    return top, left


def to_mnist(grey: Grey) -> npt.NDArray[np.uint8]:
    """Grey (H, W) 0..255 -> (28, 28) uint8, white digit on black, as MNIST prepared its digits."""
    found = digit_ink(*ink_map(grey))
    if found is None:
        raise NoInkError("no ink found: the image has no mark that stands out from its background")
    ink, peak = found
    rows, cols = np.flatnonzero(np.add.reduce(ink, 1)), np.flatnonzero(np.add.reduce(ink, 0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = np.minimum(crop * np.float32(255.0 / peak), np.float32(255.0))
    image = _image(crop)  # the crop in PIL form, for both of its resizes (stroke check, 20 px box)
    widened = _widened(image)
    box = np.clip(_pixels(_fit_image(image if widened is None else _image(widened), DIGIT_BOX)), 0.0, 255.0)
    top, left = _mass_offset(box)
    pixels = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    pixels[top : top + box.shape[0], left : left + box.shape[1]] = np.rint(box)  # 0..255: exact
    return pixels


def prepare_upload(data: bytes, max_pixels: int) -> tuple[npt.NDArray[np.uint8], float, float]:
    """Upload bytes -> (28x28 uint8 in MNIST form, seconds decoding, seconds bringing to that form)."""
    t0 = time.perf_counter()
    grey = decode_image(data, max_pixels)
    t1 = time.perf_counter()
    pixels = to_mnist(grey)
    return pixels, t1 - t0, time.perf_counter() - t1
