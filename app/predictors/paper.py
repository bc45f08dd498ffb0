"""The paper: its level, shading and polarity removed from a grey picture, and the ink's levels.

`ink_map` is the first step of `app.predictors.ink`: what stands above (or below) the paper, in
0..255, whatever the lighting. `levels` gives the thresholds (Otsu on the ink, with hysteresis) by
which `app.predictors.ink.digit_ink` then decides which of it is the digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

Grey = npt.NDArray[np.float32]
AnyType = TypeVar("AnyType", bound=np.generic)  # block_max: grey ink or a mask

PAPER_SIDE = 96  # the paper level is estimated on a copy at most this many pixels on a side
PAPER_WINDOW = (0.15, 0.45)  # ... with a window between these fractions of its longer side ...
STROKE_WINDOWS = 3.0  # ... and this many stroke widths: wider than any stroke, not much wider
PAPER_NEAR = 0.05  # ... then re-estimated between the strokes, where this much of the Gaussian is paper
STEP = 16.0  # a change of the paper level between neighbouring reduced pixels this big is a step
RAMP = 1.0  # the steepest shading the paper level follows past the frame's edge: 0..255 over its side
FLAT = 0.4  # paper this much of which is exactly its lowest level has no texture (digital)
SHADE, SHADED = 40.0, 0.15  # ... unless this much of it lies within SHADE of that level, not on it
EIGHT = np.ones((3, 3), bool)  # 8-connectivity
SAMPLE = 250_000  # pixels sampled (over a stride) for the paper statistics
MARK_SAMPLE, MARK_TAIL, MARK_RATIO = 40_000, 0.1, 2.0  # `_dark_marks`: pixels looked at, the tail (%)
MARK_WINDOW = 0.4  # ... from the mean of a window this much of the picture wide
MIN_CONTRAST = 32.0  # a mark must stand this much (of 255) above the paper to count as ink
LOW_SIGMAS, LOW_MIN = 4.0, 6.0  # a pixel may be ink this far above the paper's texture ...
HIGH_SIGMAS = 10.0  # ... and a mark counts if its strongest pixel is this far (hysteresis)


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
    same = np.count_nonzero(grey == np.float32(level))
    # A clipped photo (overexposed: the brightest part of the sheet all 255) is flat there too, but
    # its shading lies just off that level over much of the rest; a drawing's anti-aliasing does not.
    # Dark flat paper is taken as it is (MNIST form: its faint anti-aliasing lies near its level).
    flat = same > FLAT * grey.size and (
        level < 128.0
        or np.count_nonzero(np.abs(grey - np.float32(level)) < SHADE) - same <= SHADED * grey.size
    )
    if flat:
        paper: Grey | np.float32 = np.float32(level)  # flat paper (MNIST form, a drawing): no shading
        light_paper = level >= 128.0  # dark ink on light paper is inverted (MNIST is not)
    else:
        # Light paper: its border may be dark (vignetting), the picture's median is not, nor is the
        # median of the frame's middle half, where a sheet lies on a dark desk.
        small = _reduced(grey)
        h, w = small.shape
        middle = small[h // 4 : h - h // 4, w // 4 : w - w // 4]
        light_paper = max(level, _median(small.ravel()), _median(middle.ravel())) >= 128.0
        light_paper = light_paper or _dark_marks(grey)  # white paper in a dim photo
        paper = paper_level(grey, small, light_paper)
    ink = paper - grey if light_paper else grey - paper
    return np.clip(ink, 0.0, 255.0, out=ink).astype(np.float32, copy=False), bool(flat)


def _dark_marks(grey: Grey) -> bool:
    """Whether the picture's marks are darker than its background, however dark that is.

    Underexposed, white paper is under mid-grey, and was taken for dark paper (its strokes for
    holes in the ink). Its darkest pixels (MARK_TAIL % of them) lie far below the mean round them
    (a window MARK_WINDOW of the picture wide: wide, so that a thick stroke hardly moves it; a mean,
    so that light falling off across the sheet is no mark), its lightest hardly above it; chalk on
    a board is the other way round.
    """
    stride = max(1, int(np.sqrt(grey.size / MARK_SAMPLE)))
    sample = grey[::stride, ::stride]
    window = max(3, int(MARK_WINDOW * max(sample.shape)))
    detail = sample - ndimage.uniform_filter(sample, window, mode="nearest")
    lo, hi = np.percentile(detail, (MARK_TAIL, 100.0 - MARK_TAIL))
    dark, light = -float(lo), float(hi)
    return dark >= MIN_CONTRAST and dark >= MARK_RATIO * light


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
    on `small` (`_reduced(grey)`), refined between the strokes, its steps sharpened, then scaled
    back up.
    """
    h, w = grey.shape
    k = _closing_window(small, light_paper)
    first, second = (np.maximum, np.minimum) if light_paper else (np.minimum, np.maximum)
    level = _rank_filter(small, k, first)
    strokes = None
    if np.minimum.reduce(level, None) != np.maximum.reduce(level, None):  # else `second` keeps it
        # (a dark-paper digit is often all 0 after the first)
        level = _rank_filter(level, k, second, extend=True)
        level, strokes = _paper_between_strokes(small, level, light_paper, k)
    if level.shape == grey.shape:
        return level
    if strokes is not None:
        level = _sharp_steps(level, strokes, light_paper)
    return _pixels(_image(level).resize((w, h), Image.Resampling.BILINEAR))


def _sharp_steps(level: Grey, strokes: npt.NDArray[np.bool_], light_paper: bool) -> Grey:
    """The reduced level with each step off the strokes moved onto its light side, before enlarging.

    Enlarged, a step of the level (a shadow's edge, a sheet's edge on a desk) spreads over a reduced
    pixel on each side, and where it spreads onto the dark side the light side's level makes ink of
    it: a thin line along the shadow's edge, a ring round the sheet. At such a step the light side
    takes its dark neighbour's level; near the strokes the level is left as it is.
    """
    dark = _rank_filter(level, 3, np.minimum if light_paper else np.maximum)
    step = (np.abs(level - dark) > STEP) & ~ndimage.binary_dilation(strokes, EIGHT)
    return np.where(step, dark, level)


def _paper_between_strokes(
    small: Grey, closed: Grey, light_paper: bool, k: int
) -> tuple[Grey, npt.NDArray[np.bool_]]:
    """The paper level re-estimated from the paper itself: a local mean of the pixels that are not strokes.

    A closing follows the paper only where it is flat on the scale of its window: it overshoots on a
    vignette's bright centre, a shadow's edge or inside a 0, and that overshoot becomes ink (a halo).
    The strokes the closing found (ink above the low threshold, widened by two pixels) are masked out and
    the rest averaged with a Gaussian half a stroke wide (a normalized convolution), which tracks
    shading on the strokes' own scale; where no paper is near (a large dark object) the closing stays.
    Returns the level and the strokes' mask.
    """
    ink = closed - small if light_paper else small - closed
    strokes = ndimage.binary_dilation(ink > levels(ink).low, EIGHT, 2)
    paper = (~strokes).astype(np.float32)
    sigma = max(1.0, k / STROKE_WINDOWS / 2.0)
    weight = ndimage.gaussian_filter(paper, sigma, mode="nearest", truncate=3.0)
    total = ndimage.gaussian_filter(small * paper, sigma, mode="nearest", truncate=3.0)
    near = weight > PAPER_NEAR
    mean = np.where(near, total / np.where(near, weight, np.float32(1.0)), closed)
    # Off the strokes the closing holds a step of the paper's level (a sheet's edge on a darker desk)
    # that the mean blurs: on the step's dark side the mean is too light, a halo of ink.
    bound = np.minimum if light_paper else np.maximum
    return np.where(strokes, mean, bound(mean, closed)).astype(np.float32), strokes


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


def _rank_filter(x: Grey, k: int, reduce: np.ufunc, extend: bool = False) -> Grey:
    """A separable k x k max or min filter (`np.maximum` / `np.minimum`), edges repeated or extended.

    About log2(k) whole-array calls per axis, and edges padded by concatenation (np.pad is slow
    on small arrays): 3.6x faster at 28x28, 13x at 96x96 than k - 1 shifted calls, same output.
    `extend` pads with the edge's odd reflection (2 x edge - mirror) instead, its slope at most
    RAMP of 0..255 over the longer side: a closing's second filter so padded follows a ramp of light
    past the frame's edge (repeated, its last window-width overshoots into the dim side as ink),
    while a dark object at the edge, a step, is not mirrored into a deep dip.
    """
    pad = k // 2
    if extend:  # the padding's largest step from the edge at each distance, farthest first
        steps = np.arange(pad, 0, -1, dtype=np.float32)[:, None] * np.float32(RAMP * 255.0 / max(x.shape))
    for _ in range(2):  # rows, then columns (as rows of the transpose); transposing twice restores x
        if extend and 0 < pad < x.shape[0]:
            before = np.clip(2 * x[:1] - x[pad:0:-1], x[:1] - steps, x[:1] + steps)
            after = np.clip(2 * x[-1:] - x[-2 : -pad - 2 : -1], x[-1:] - steps[::-1], x[-1:] + steps[::-1])
        else:
            before, after = x[:1].repeat(pad, 0), x[-1:].repeat(pad, 0)
        padded = np.concatenate([before, x, after])
        x = _window_reduce(padded, k, reduce, x.shape[0]).T
    return np.ascontiguousarray(x)


def _window_reduce(padded: Grey, k: int, reduce: np.ufunc, n: int) -> Grey:
    """`reduce` over each window of k rows of `padded` (n + k - 1 rows): doublings, then one overlap."""
    span = 1
    while 2 * span <= k:
        padded = reduce(padded[:-span], padded[span:])  # row i now covers rows [i, i + 2 * span)
        span *= 2
    return np.asarray(reduce(padded[:n], padded[k - span : k - span + n]), dtype=np.float32)


def block_max(a: npt.NDArray[AnyType], factor: int) -> npt.NDArray[AnyType]:
    """The max of each factor x factor block (edge blocks padded with 0): (ceil(H / f), ceil(W / f)).
    Grey ink (the analysis copy) or a mask (a coarse look at its lines)."""
    h, w = a.shape
    hh, ww = -(-h // factor), -(-w // factor)
    padded = np.zeros((hh * factor, ww * factor), a.dtype)
    padded[:h, :w] = a
    out = padded[::factor, ::factor].copy()
    for dy in range(factor):  # factor^2 strided maxima: ~10x faster than a reshaped max over 2 axes
        for dx in range(factor):
            if dy or dx:
                np.maximum(out, padded[dy::factor, dx::factor], out=out)
    return out


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
