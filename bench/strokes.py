"""Digits drawn as straight strokes, from small in the frame to cropped tight: read right or not.

    python -m bench.strokes                       # in-process, the committed models/mnist
    python -m bench.strokes --model /tmp/m        # another model folder
    python -m bench.strokes --paper light         # under light falling off across the sheet (or grain)
    python -m bench.strokes --heights 0.94 0.97 0.99  # cropped to the digit: it fills the frame
    python -m bench.strokes --scene canvas        # drawn on the page's canvas, to and past its edges
    python -m bench.strokes --scene canvas --margin 28   # ... sent with the page's margin
    python -m bench.strokes --scene boxed         # written in a printed box (a form's cell)
    python -m bench.strokes --scene circled       # circled in pen
    python -m bench.strokes --scene desk          # on a sheet lying on a darker desk
    python -m bench.strokes --scene desk-edge     # ... showing along two sides of the frame only
    python -m bench.strokes --scene wood          # a small sheet on a wooden desk
    python -m bench.strokes --scene dot           # large, with a stray dot of pen beside it
    python -m bench.strokes --scene dim           # an underexposed photo: the paper at 96, not 240
    python -m bench.strokes --scene bright        # overexposed: the lit part of the paper all 255
    python -m bench.strokes --scene shadow        # under a hard shadow, across the digit or beside it
    python -m bench.strokes --scene underlined    # with a line drawn under it
    python -m bench.strokes --scene ruled         # on ruled paper photographed turned a little
    python -m bench.strokes --scene squared       # ... on squared paper, in pen or in pencil grey
    python -m bench.strokes --scene turned        # ruled or squared, the sheet turned 20 to 45 degrees

Six digits (a 1 as one line, a 7 and a 4 of two and three lines, a Z-like 2, an ellipse 0, a 9 of
an ellipse and a line). `photo` (the default): they fill 30, 60 or 90 % of the height of a
300x400, 750x1000 or 3000x4000 JPEG, drawn with pens of 1, 3 and 8 % of the digit's height (162
uploads). `canvas`: drawn with the page's 22 px pen on its 280 px canvas, 80-110 % of its height,
centred or shifted up or down by a tenth (72 PNGs, sent without a margin unless `--margin`).
`boxed`: at 40 or 60 % of a 300x400 or 750x1000 JPEG's height, pens of 3 and 8 %, inside a grey
box 70 or 85 % of the shorter side, 0.4 or 1 % of the longer side thick (192); `circled`: the
digits at 40 or 50 % in a dark circle 80 or 95 % of the shorter side across (192); `desk`: at 30
or 45 % of the height on a sheet 60 or 80 % of the frame's width and height, on a desk of grey 40,
90 or 150 with some noise (288); `wood`: at 30 or 35 % of the height, pens of 3 and 8 %, on a
sheet 40 or 60 % of the frame's width and height (the digit fills most of the smaller one), on a
wooden desk of mean grey 90 or 150 with streaks of up to ±30 across the frame or up it (384);
`desk-edge`: the
same digits at 30 or 45 %, pens of 3 and 8 %, on
a sheet that leaves a desk of grey 60 or 120 along two sides of the frame (the left 12 % and the
bottom 10 %, or the top and the right 15 %) (192); `shadow`: at 30 or 45 % on even paper under a
hard shadow with a penumbra 1 % wide, leaving 45 or 70 % of the light, across the digit's middle
or in a corner (192); `dot`: at 60, 75 or 90 % on even or grainy paper, pens of 3 and 8 %, with a
stray dot of pen near a corner or at a side (288); `dim`: at 30 or 60 %, pens of 3 and 8 %, on even
paper or paper dimming across, underexposed to 40 % (the paper at 96) with noise of 3 or 8 (192);
`bright`: the same, overexposed to 130 % and up by 26 (the lit paper clipped at 255), with noise
of 2 or 6 (192); `underlined`: at 30 or 60 %, pens of 3 and 8 %, with a line of the same pen
under it, 2 or 6 % of the digit's height below its box, 0.6 or 1.2 times the box's width (192);
`ruled`: at 30 or 50 %, pens of 3 and 8 %, on paper ruled in pale blue every 6 or 10 % of the
frame's longer side, the lines turned by 0, 3, 6 or 10 degrees (a sheet not quite square to the
phone), with noise of 3 (384); `squared`: the same on squared paper, squares of 5 or 8 %, turned 0,
5 or 10 degrees, in black ink or in pencil grey (120, about as dark as the lines) (576);
`turned`: ruled or squared every 6 or 10 %, the sheet turned 20, -30 or 45 degrees (576).
Every upload goes
through the service's own `prepare_upload` and the network; prints every miss (misread, or
refused) and the count. Such digits are what a ruled-line or border step can mistake for lines:
the long straight strokes of a photo cropped to the digit.
"""

from __future__ import annotations

import argparse
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from models import MODELS_DIR

Point = tuple[float, float]
LINES: dict[int, list[list[Point]]] = {  # polylines in the digit's box, (x, y) in 0..1
    1: [[(0.5, 0.0), (0.5, 1.0)]],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
    4: [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1.0)]],
    2: [[(0.1, 0.2), (0.5, 0.0), (0.9, 0.2), (0.9, 0.4), (0.1, 1.0), (0.95, 1.0)]],
}
FRAMES = ((300, 400), (750, 1000), (3000, 4000))
HEIGHTS = (0.3, 0.6, 0.9)  # of the frame
PENS = (0.01, 0.03, 0.08)  # of the digit's height
PAPERS = ("even", "light", "grain")
LIGHT_FALLOFF = 0.55  # `light` paper: its level on the far side, of the near side's
DIM = 0.4  # `dim`: the exposure, of the other scenes'
BRIGHT = 1.3  # `bright`: the same, overexposed
WOOD_GRAIN = 30.0  # `wood`: the streaks' largest departure from the desk's mean grey
GRAIN = 12.0  # `grain` paper: the noise's standard deviation, of 255
CANVAS, CANVAS_PEN = 280, 22  # the page's canvas (app/static/digit.js): its side and its pen, px
DIGITS = (0, 1, 2, 4, 7, 9)
Case = tuple[str, int, bytes]  # what it is, the digit, the upload


def sketch(draw: ImageDraw.ImageDraw, label: int, box: tuple[float, float, float], width: int) -> None:
    """The digit's strokes in black, its box at (x0, y0) `box[2]` tall and 0.6 of that wide."""
    x0, y0, bh = box
    bw = 0.6 * bh

    def at(p: Point) -> Point:
        return x0 + p[0] * bw, y0 + p[1] * bh

    if label == 0:
        draw.ellipse([x0, y0, x0 + bw, y0 + bh], outline=20, width=width)
    elif label == 9:
        draw.ellipse([x0, y0, x0 + bw, y0 + 0.5 * bh], outline=20, width=width)
        draw.line([at((1.0, 0.25)), at((0.9, 1.0))], fill=20, width=width)
    else:
        for line in LINES[label]:
            draw.line([at(p) for p in line], fill=20, width=width, joint="curve")


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def drawn(label: int, frame: tuple[int, int], height: float, pen: float, paper: str = "even") -> bytes:
    """A JPEG of dark ink on light paper: the digit centred, `height` of the frame tall."""
    return jpeg(on_paper(ink_drawing(label, frame, height, pen), paper))


def ink_drawing(label: int, frame: tuple[int, int], height: float, pen: float) -> Image.Image:
    """The digit centred on white, `height` of the frame tall, the pen `pen` of that."""
    w, h = frame
    image = Image.new("L", frame, 255)
    bh = height * h
    sketch(ImageDraw.Draw(image), label, ((w - 0.6 * bh) / 2, (h - bh) / 2, bh), max(1, int(pen * bh)))
    return image


def boxed(
    label: int,
    frame: tuple[int, int],
    height: float,
    pen: float,
    size: float,
    thick: float,
    shape: str = "box",
) -> bytes:
    """`drawn` on even paper, inside a grey box (or a dark circle, a little taller than wide) `size`
    of the shorter side across, its line `thick` of the longer side."""
    image = on_paper(ink_drawing(label, frame, height, pen), "even")
    (w, h), s = frame, size * min(frame) / 2
    width = max(1, round(thick * max(frame)))
    if shape == "box":
        ImageDraw.Draw(image).rectangle([w / 2 - s, h / 2 - s, w / 2 + s, h / 2 + s], outline=90, width=width)
    else:
        ImageDraw.Draw(image).ellipse(
            [w / 2 - s, h / 2 - 1.1 * s, w / 2 + s, h / 2 + 1.1 * s], outline=40, width=width
        )
    return jpeg(image)


def on_desk(
    label: int,
    frame: tuple[int, int],
    height: float,
    pen: float,
    sheet: float,
    desk: float,
    edges: tuple[float, float, float, float] | None = None,
    grain: str = "",
) -> bytes:
    """`drawn` on a sheet `sheet` of the frame's width and height, lying on a desk of grey `desk`
    (a wooden one if `grain`, its streaks "across" or "upright"); or, given `edges` (left, top,
    right, bottom, of the frame), a sheet with its edges there."""
    (w, h), rng = frame, np.random.default_rng(0)
    paper = np.asarray(on_paper(ink_drawing(label, frame, height, pen), "even"), np.float32)
    y, x = np.mgrid[0:h, 0:w]
    if edges is None:
        on_sheet = (np.abs(x - w / 2) < sheet * w / 2) & (np.abs(y - h / 2) < sheet * h / 2)
    else:
        x0, y0, x1, y1 = edges
        on_sheet = (x >= x0 * w) & (x < x1 * w) & (y >= y0 * h) & (y < y1 * h)
    floor = wood((h, w), desk, rng, grain == "upright") if grain else desk + rng.normal(0.0, 6.0, (h, w))
    photo = np.where(on_sheet, paper, floor)
    return jpeg(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "L"))


def wood(
    shape: tuple[int, int], desk: float, rng: np.random.Generator, upright: bool = False
) -> npt.NDArray[np.float32]:
    """A wooden desk of mean grey `desk`: streaks along its length (a few dark, most faint, ±WOOD_GRAIN
    at most), wavering across it, and sensor noise; the streaks run across the frame, or up it if
    `upright`."""
    if upright:
        return np.ascontiguousarray(wood(shape[::-1], desk, rng).T)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    waver = 0.02 * h * np.sin(2 * np.pi * (x / w * rng.uniform(0.5, 1.5) + rng.uniform()))
    rows = (y + waver) / h
    streaks = np.zeros(shape, np.float32)
    for k, amplitude in zip(rng.uniform(8, 60, 6), rng.uniform(0.2, 1.0, 6), strict=True):
        streaks += amplitude * np.sin(2 * np.pi * (k * rows + rng.uniform()))
    streaks *= WOOD_GRAIN / float(np.abs(streaks).max())
    return (desk + streaks + rng.normal(0.0, 4.0, shape)).astype(np.float32)


def dotted(label: int, frame: tuple[int, int], height: float, pen: float, paper: str, corner: bool) -> bytes:
    """`drawn`, with a stray dot of pen (2.4 % of the frame's height across) near the top left
    corner or at the right side's middle."""
    image = ink_drawing(label, frame, height, pen)
    (w, h), r = frame, max(2, int(0.012 * frame[1]))
    cx, cy = (int(0.15 * w), int(0.15 * h)) if corner else (int(0.85 * w), int(0.5 * h))
    ImageDraw.Draw(image).ellipse([cx - r, cy - r, cx + r, cy + r], fill=30)
    return jpeg(on_paper(image, paper))


def underlined(
    label: int, frame: tuple[int, int], height: float, pen: float, gap: float, width: float
) -> bytes:
    """`drawn` on even paper, with a line of the same pen under the digit: `gap` of the digit's
    height below its box, `width` times the box's width (0.6 of its height), centred under it."""
    image = ink_drawing(label, frame, height, pen)
    w, h = frame
    bh = height * h
    y = (h + bh) / 2 + gap * bh + pen * bh / 2
    half = width * 0.6 * bh / 2
    ImageDraw.Draw(image).line([(w / 2 - half, y), (w / 2 + half, y)], fill=20, width=max(1, int(pen * bh)))
    return jpeg(on_paper(image, "even"))


def ruled(
    label: int,
    frame: tuple[int, int],
    height: float,
    pen: float,
    angle: float,
    step: float,
    squared: bool = False,
    ink: float = 20.0,
) -> bytes:
    """`drawn` in ink of grey `ink` on paper ruled (or `squared`) in pale blue every `step` of the
    frame's longer side, the lines turned by `angle` degrees, with a little noise."""
    w, h = frame
    side = 2 * max(w, h)
    sheet = Image.new("RGB", (side, side), (244, 242, 236))
    draw = ImageDraw.Draw(sheet)
    blue, thick = (150, 175, 225), max(1, round(max(w, h) / 400))
    for y in range(0, side, int(step * max(w, h))):
        draw.line([(0, y), (side, y)], fill=blue, width=thick)
        if squared:
            draw.line([(y, 0), (y, side)], fill=blue, width=thick)
    left, top = (side - w) // 2, (side - h) // 2
    sheet = sheet.rotate(angle, Image.Resampling.BICUBIC).crop((left, top, left + w, top + h))
    cover = 1.0 - np.asarray(ink_drawing(label, frame, height, pen), np.float32)[..., None] / 255.0
    photo = np.asarray(sheet, np.float32) * (1.0 - cover) + np.float32(ink) * cover
    photo += np.random.default_rng(0).normal(0.0, 3.0, photo.shape).astype(np.float32)
    return jpeg(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)))


def dim(label: int, frame: tuple[int, int], height: float, pen: float, paper: str, noise: float) -> bytes:
    """`drawn`, underexposed: every level at DIM of itself (paper 96 instead of 240), with sensor
    noise of standard deviation `noise`."""
    x = np.asarray(on_paper(ink_drawing(label, frame, height, pen), paper), np.float32) * DIM
    x += np.random.default_rng(0).normal(0.0, noise, x.shape).astype(np.float32)
    return jpeg(Image.fromarray(np.clip(x, 0, 255).astype(np.uint8), "L"))


def bright(label: int, frame: tuple[int, int], height: float, pen: float, paper: str, noise: float) -> bytes:
    """`drawn`, overexposed: every level at BRIGHT of itself plus 20 x BRIGHT, clipped at 255 (the
    paper's lit side all 255), with sensor noise of standard deviation `noise`."""
    x = np.asarray(on_paper(ink_drawing(label, frame, height, pen), paper), np.float32) * BRIGHT
    x += 20.0 * BRIGHT + np.random.default_rng(0).normal(0.0, noise, x.shape).astype(np.float32)
    return jpeg(Image.fromarray(np.clip(x, 0, 255).astype(np.uint8), "L"))


def shadowed(
    label: int, frame: tuple[int, int], height: float, pen: float, edge: float, dark: float
) -> bytes:
    """`drawn` on even paper, under a hard shadow (a phone's, a hand's) that leaves `dark` of the light:
    the shadow covers the frame where x / w - y / h > `edge` (0: through the digit's middle; 0.4: the
    top right corner, clear of it), with a penumbra 1 % of the frame's longer side wide."""
    paper = np.asarray(on_paper(ink_drawing(label, frame, height, pen), "even"), np.float32)
    (w, h), soft = frame, 0.01 * max(frame)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = np.clip(((x / w - y / h) - edge) * min(w, h) / soft + 0.5, 0.0, 1.0)
    photo = paper * (1.0 - (1.0 - dark) * inside)
    return jpeg(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "L"))


def canvas(label: int, height: float, shift: float, margin: int = 0) -> bytes:
    """A PNG of the digit drawn with the page's pen on its canvas, `height` of it tall and shifted
    down by `shift` of it (what runs past the canvas is lost), with `margin` px of white around."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    bh = height * CANVAS
    box = ((CANVAS - 0.6 * bh) / 2, (CANVAS - bh) / 2 + shift * CANVAS, bh)
    sketch(ImageDraw.Draw(image), label, box, CANVAS_PEN)
    sheet = Image.new("L", (CANVAS + 2 * margin, CANVAS + 2 * margin), 255)
    sheet.paste(image, (margin, margin))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()


def on_paper(ink: Image.Image, paper: str) -> Image.Image:
    """The drawing (255 = paper) on paper of level 240: even, under light falling off, or grainy."""
    x = np.asarray(ink, np.float32) / 255.0
    h, w = x.shape
    level = np.full((h, w), 240.0, np.float32)
    if paper == "light":  # the light falls off across the sheet: 240 on the left, 55 % of it on the right
        level *= np.linspace(1.0, LIGHT_FALLOFF, w, dtype=np.float32)[None, :]
    elif paper == "grain":  # paper grain: noise a few pixels wide
        rng = np.random.default_rng(0)
        noise = rng.normal(0.0, 1.0, (h // 4 + 1, w // 4 + 1)).astype(np.float32)
        grain = np.asarray(Image.fromarray(noise, "F").resize((w, h), Image.Resampling.BILINEAR))
        level += GRAIN * grain
    return Image.fromarray(np.clip(level * x, 0, 255).astype(np.uint8), "L")


def cases(scene: str, paper: str, heights: tuple[float, ...], margin: int) -> Iterator[Case]:
    """The uploads of a scene: (what it is, the digit, the bytes)."""
    if scene == "photo":
        for label, frame, height, pen in itertools.product(DIGITS, FRAMES, heights, PENS):
            what = f"{frame[0]}x{frame[1]}, {height:.0%} of the height, pen {pen:.0%}"
            yield what, label, drawn(label, frame, height, pen, paper)
    elif scene == "canvas":
        for label, height, shift in itertools.product(DIGITS, (0.8, 0.95, 1.0, 1.1), (-0.1, 0.0, 0.1)):
            yield (
                f"{height:.0%} of the canvas, shifted {shift:+.0%}",
                label,
                canvas(label, height, shift, margin),
            )
    elif scene == "desk":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.45), (0.03, 0.08), (0.6, 0.8), (40, 90, 150))
        for label, frame, height, pen, sheet, desk in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, sheet {sheet:.0%} on desk {desk}"
            yield what, label, on_desk(label, frame, height, pen, sheet, desk)
    elif scene == "wood":
        grid = itertools.product(
            DIGITS, FRAMES[:2], (0.3, 0.35), (0.03, 0.08), (0.4, 0.6), (90, 150), ("across", "upright")
        )
        for label, frame, height, pen, sheet, desk, grain in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, sheet {sheet:.0%}, {grain}, {desk}"
            yield what, label, on_desk(label, frame, height, pen, sheet, desk, grain=grain)
    elif scene == "desk-edge":
        sides = {"left and bottom": (0.12, 0.0, 1.0, 0.9), "top and right": (0.0, 0.15, 0.85, 1.0)}
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.45), (0.03, 0.08), sides.items(), (60, 120))
        for label, frame, height, pen, (where, edges), desk in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, desk {desk} along the {where}"
            yield what, label, on_desk(label, frame, height, pen, 0.0, desk, edges)
    elif scene == "dot":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.6, 0.75, 0.9), (0.03, 0.08), ("even", "grain"))
        for (label, frame, height, pen, paper), corner in itertools.product(grid, (True, False)):
            where = "a corner" if corner else "the side"
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, {paper} paper, a dot near {where}"
            yield what, label, dotted(label, frame, height, pen, paper, corner)
    elif scene == "dim":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.6), (0.03, 0.08), ("even", "light"), (3.0, 8.0))
        for label, frame, height, pen, paper, noise in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, {paper} paper, noise {noise:g}"
            yield what, label, dim(label, frame, height, pen, paper, noise)
    elif scene == "bright":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.6), (0.03, 0.08), ("even", "light"), (2.0, 6.0))
        for label, frame, height, pen, paper, noise in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, {paper} paper, noise {noise:g}"
            yield what, label, bright(label, frame, height, pen, paper, noise)
    elif scene == "shadow":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.45), (0.03, 0.08), (0.0, 0.4), (0.45, 0.7))
        for label, frame, height, pen, edge, dark in grid:
            where = "across the digit" if edge == 0.0 else "in a corner"
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, shadow {where} leaving {dark:.0%}"
            yield what, label, shadowed(label, frame, height, pen, edge, dark)
    elif scene == "ruled":
        grid = itertools.product(
            DIGITS, FRAMES[:2], (0.3, 0.5), (0.03, 0.08), (0.0, 3.0, 6.0, 10.0), (0.06, 0.1)
        )
        for label, frame, height, pen, angle, step in grid:
            what = (
                f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, lines every {step:.0%} turned {angle:g}"
            )
            yield what, label, ruled(label, frame, height, pen, angle, step)
    elif scene == "squared":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.5), (0.03, 0.08), (0.0, 5.0, 10.0), (0.05, 0.08))
        for (label, frame, height, pen, angle, step), ink in itertools.product(grid, (20.0, 120.0)):
            what = (
                f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%} of grey {ink:g}, squares of {step:.0%}"
            )
            yield what + f" turned {angle:g}", label, ruled(label, frame, height, pen, angle, step, True, ink)
    elif scene == "turned":
        grid = itertools.product(
            DIGITS, FRAMES[:2], (0.3, 0.5), (0.03, 0.08), (20.0, -30.0, 45.0), (0.06, 0.1), (False, True)
        )
        for label, frame, height, pen, angle, step, squared in grid:
            paper = "squares" if squared else "lines"
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, {paper} every {step:.0%}"
            what += f" turned {angle:g}"
            yield what, label, ruled(label, frame, height, pen, angle, step, squared)
    elif scene == "underlined":
        grid = itertools.product(DIGITS, FRAMES[:2], (0.3, 0.6), (0.03, 0.08), (0.02, 0.06), (0.6, 1.2))
        for label, frame, height, pen, gap, width in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, line {gap:.0%} below, {width:g}x"
            yield what, label, underlined(label, frame, height, pen, gap, width)
    else:
        shape, heights, sizes = ("box", (0.4, 0.6), (0.7, 0.85))
        if scene == "circled":
            shape, heights, sizes = ("circle", (0.4, 0.5), (0.8, 0.95))
        grid = itertools.product(DIGITS, FRAMES[:2], heights, (0.03, 0.08), sizes, (0.004, 0.01))
        for label, frame, height, pen, size, thick in grid:
            what = f"{frame[0]}x{frame[1]}, {height:.0%}, pen {pen:.0%}, {shape} {size:.0%} {thick:.1%} thick"
            yield what, label, boxed(label, frame, height, pen, size, thick, shape)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=MODELS_DIR / "mnist", help="model folder")
    p.add_argument(
        "--scene",
        choices=(
            "photo",
            "canvas",
            "boxed",
            "circled",
            "desk",
            "desk-edge",
            "wood",
            "shadow",
            "dot",
            "dim",
            "bright",
            "underlined",
            "ruled",
            "squared",
            "turned",
        ),
        default="photo",
    )
    p.add_argument(
        "--paper", choices=PAPERS, default="even", help="photo: even, light falling off, or grainy"
    )
    p.add_argument(
        "--heights",
        type=float,
        nargs="+",
        default=HEIGHTS,
        help="photo: of the frame (default 0.3 0.6 0.9; 0.94 0.97 0.99: a photo cropped to the digit)",
    )
    p.add_argument("--margin", type=int, default=0, help="canvas: px of white added on each side")
    a = p.parse_args()

    from app.predictors.preprocess import prepare_upload
    from models.artifacts import load_model
    from training.evaluate import served_probabilities

    loaded = load_model(a.model)
    misses = total = 0
    for what, label, data in cases(a.scene, a.paper, tuple(a.heights), a.margin):
        total += 1
        try:
            form = prepare_upload(data, 40_000_000)[0]
        except Exception as exc:  # a refusal (no_ink, ...) is a miss too
            answer = type(exc).__name__
        else:
            read = int(served_probabilities(loaded.network, form[None], loaded.temperature).argmax(axis=1)[0])
            answer = "" if read == label else f"read {read}"
        if answer:
            misses += 1
            print(f"  {label}: {what}: {answer}")
    where = f"on {a.paper} paper" if a.scene == "photo" else f"({a.scene})"
    print(f"{misses} of {total} straight-stroke digits {where} misread or refused")


if __name__ == "__main__":
    main()
