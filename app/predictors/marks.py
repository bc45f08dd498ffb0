"""What each connected mark of the ink is: its mass and box, and whether it can be the digit.

Part of the digit-versus-frame step of `app.predictors.ink`: `marks` describes the marks of a
labelled mask and flags as junk the border objects (table, paper edge, shadow, dark corner), long
thin lines and frames round another mark (a form's cell, a circle); `ink.choose_digit` then picks
the digit and its parts among the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.predictors.paper import EIGHT, Grey, Levels
from app.predictors.ruled import Mask

# A mark touching the border is not the digit when it touches it along this fraction of the shorter
# side, or when its box's centre lies outside the central 60% of the frame (CENTRAL on each side).
BORDER_CONTACT, CENTRAL = 0.12, 0.2
LINE_SPAN, LINE_THICK = 0.6, 0.035  # a mark this long (of the frame) and this thin is a ruled line
STRAIGHT = 0.1  # ... and, if it is clear of the border, this straight (`_straightness`)
BOX_SIZE, BOX_SIDE = 0.2, 0.85  # a mark this big (of the frame) that encloses, or inks this much of
BOX_INNER = 0.1  # each side of its box round, a mark with this fraction of its ink frames the digit
BOX_INNER_SIZE = 0.3  # ... and this big (of the framing mark's longer side): not a speck in a loop
SPAN = 0.9  # a mark this wide or tall (of the frame) reaches across it
SOLID_FILL = 0.7  # a squarish mark filling this much of its box is a dot or a blot
DASH = 3.0  # a mark this many times wider than tall is a dash or an underline, not a digit alone
FAINT_SPAN = 2.5  # a mark across the frame this many times fainter than another is not the digit
SPECK_MASS = 0.005  # marks with less than this fraction of the heaviest one's ink are specks
SPECK_SIZE = 0.1  # a dot, or a mark this small (of another's size), is a speck beside that one
# A border mark that may be a digit cropped to fill the frame: it fills at most TIGHT_FILL of its
# box, which spans TIGHT_SPAN of the frame's height or width; it is not straight, and it meets the
# border in 1 to TIGHT_CROSSINGS runs, along no side for more than TIGHT_ALONG of it.
TIGHT_FILL, TIGHT_SPAN, TIGHT_CROSSINGS, TIGHT_ALONG = 0.65, 0.8, 6, 0.6
TIGHT_NEAR = 0.15  # ... and the plausible marks beside it lie this near its strokes (of the shorter side)


@dataclass
class Mark:
    """One connected mark: its label, ink mass, bounding box and whether it looks like the digit."""

    label: int
    mass: float
    box: tuple[int, int, int, int]  # top, bottom, left, right (half-open)
    junk: bool
    area: int  # pixels
    loose_line: bool = False  # junk only as a long straight line clear of the border (or an upright 1)
    fills_frame: bool = False  # junk, but drawn in strokes from border to border: a digit cropped tight

    @property
    def level(self) -> float:
        """Mean ink of the mark's pixels."""
        return self.mass / max(self.area, 1)

    @property
    def filled(self) -> bool:
        """It fills most of its box, as no digit's strokes do but a straight 1's."""
        return self.area > SOLID_FILL * (self.box[1] - self.box[0]) * (self.box[3] - self.box[2])

    @property
    def solid(self) -> bool:
        """A dot or a blot: it fills most of a squarish box."""
        bh, bw = self.box[1] - self.box[0], self.box[3] - self.box[2]
        return self.filled and max(bh, bw) < 2.0 * min(bh, bw)

    @property
    def upright(self) -> bool:
        """A straight upright stroke (a 1): it fills its box, DASH times taller than wide."""
        return self.filled and self.box[1] - self.box[0] >= DASH * (self.box[3] - self.box[2])

    def speck_beside(self, size: int) -> bool:
        """A dot, or a mark under SPECK_SIZE of `size` (another mark's): a speck beside that one."""
        return self.solid or self.size < SPECK_SIZE * size

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
    contact = _border_contact(labels, ink, lv, count)
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
    _flag_faint_spans(out, (h, w))
    _flag_cropped_digits(labels, out)
    return out


def _flag_cropped_digits(labels: npt.NDArray[np.int32], found: list[Mark]) -> None:
    """Set `fills_frame`, in place, on each junk mark that may be a digit cropped to fill the frame:
    drawn in strokes from border to border (`_fills_frame`), with every plausible mark a speck beside
    it or within TIGHT_NEAR of the frame's shorter side of its strokes (a 5's dot, a piece of it, a
    stray dot of pen; a small digit inside a box or a circle that the frame cuts is neither)."""
    plausible = [m for m in found if not m.junk]
    reach = max(2, round(TIGHT_NEAR * min(labels.shape)))
    for m in found:
        if m.junk and not m.loose_line and _fills_frame(labels, m):
            near = ndimage.binary_dilation(labels == m.label, EIGHT, reach)
            m.fills_frame = all(p.speck_beside(m.size) or near[labels == p.label].any() for p in plausible)


def _fills_frame(labels: npt.NDArray[np.int32], m: Mark) -> bool:
    """Whether a mark is drawn in strokes from border to border, as a digit cropped to fill the
    frame is: it meets the border, but does not lie along it (a desk round a sheet, a shadow, a
    vignette's ring, a strip of table) nor cross it many times (squared paper), and it is not
    straight (a pen)."""
    h, w = labels.shape
    bh, bw = m.box[1] - m.box[0], m.box[3] - m.box[2]
    if m.area > TIGHT_FILL * bh * bw or max(bh / h, bw / w) < TIGHT_SPAN:
        return False
    runs = 0
    for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        on = side == m.label
        if np.count_nonzero(on) > TIGHT_ALONG * on.size:
            return False
        runs += int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1]))
    if not 0 < runs <= TIGHT_CROSSINGS:
        return False
    return _straightness(labels[m.box[0] : m.box[1], m.box[2] : m.box[3]] == m.label) >= STRAIGHT


def _border_contact(labels: npt.NDArray[np.int32], ink: Grey, lv: Levels, count: int) -> npt.NDArray[np.intp]:
    """Each label's pixels on the frame's outermost ring.

    On flat paper only strong ink touches: a digit's faint anti-aliased fringe grazing the edge of a
    28x28 upload is not a border object (it made such a 7 junk, and a speck beside it the digit). On
    a photo a faint shadow or texture touching the border still counts.
    """
    edge = np.where(ink > lv.high, labels, 0) if lv.flat_paper else labels
    ring = np.concatenate([edge[0], edge[-1], edge[1:-1, 0], edge[1:-1, -1]])
    return np.bincount(ring, minlength=count + 1)


def _flag_faint_spans(found: list[Mark], shape: tuple[int, int]) -> None:
    """Flag as junk, in place, each mark that touches two opposite sides of the frame and whose ink
    is FAINT_SPAN times fainter than another plausible mark's: a desk's grain round a small sheet.
    A digit cropped tight reaches across the frame too, but as the darkest mark of it."""
    plausible = [m for m in found if not m.junk]
    if len(plausible) < 2:
        return
    darkest = max(m.level for m in plausible)
    for m in plausible:
        across = (m.box[2] == 0 and m.box[3] == shape[1]) or (m.box[0] == 0 and m.box[1] == shape[0])
        if across and m.level * FAINT_SPAN < darkest:
            m.junk = True


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
