"""Digits drawn as straight strokes, from small in the frame to cropped tight: read right or not.

    python -m bench.strokes                       # in-process, the committed models/mnist
    python -m bench.strokes --model /tmp/m        # another model folder
    python -m bench.strokes --paper light         # under light falling off across the sheet (or grain)
    python -m bench.strokes --heights 0.94 0.97 0.99  # cropped to the digit: it fills the frame

Six digits (a 1 as one line, a 7 and a 4 of two and three lines, a Z-like 2, an ellipse 0, a 9 of
an ellipse and a line) fill 30, 60 or 90 % of the height of a 300x400, 750x1000 or 3000x4000 JPEG,
drawn with pens of 1, 3 and 8 % of the digit's height: 162 uploads through the service's own
`prepare_upload` and the network. Prints every miss (misread, or refused) and the count. Such
digits are what a ruled-line or border step can mistake for lines: the long straight strokes of a
photo cropped to the digit.
"""

from __future__ import annotations

import argparse
import io
import itertools
from pathlib import Path

import numpy as np
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
GRAIN = 12.0  # `grain` paper: the noise's standard deviation, of 255


def drawn(label: int, frame: tuple[int, int], height: float, pen: float, paper: str = "even") -> bytes:
    """A JPEG of dark ink on light paper: the digit centred, `height` of the frame tall."""
    w, h = frame
    image = Image.new("L", frame, 255)
    draw = ImageDraw.Draw(image)
    bh = height * h
    bw, width = 0.6 * bh, max(1, int(pen * bh))
    x0, y0 = (w - bw) / 2, (h - bh) / 2

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
    buffer = io.BytesIO()
    on_paper(image, paper).save(buffer, "JPEG", quality=90)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=MODELS_DIR / "mnist", help="model folder")
    p.add_argument("--paper", choices=PAPERS, default="even", help="even, light falling off, or grainy")
    p.add_argument(
        "--heights",
        type=float,
        nargs="+",
        default=HEIGHTS,
        help="of the frame (default 0.3 0.6 0.9; 0.94 0.97 0.99: a photo cropped to the digit)",
    )
    a = p.parse_args()

    from app.predictors.preprocess import prepare_upload
    from models.artifacts import load_model
    from training.evaluate import predict_logits

    network = load_model(a.model).network
    cases = list(itertools.product((0, 1, 2, 4, 7, 9), FRAMES, a.heights, PENS))
    misses = 0
    for label, frame, height, pen in cases:
        try:
            form = prepare_upload(drawn(label, frame, height, pen, a.paper), 40_000_000)[0]
        except Exception as exc:  # a refusal (no_ink, ...) is a miss too
            answer = type(exc).__name__
        else:
            read = int(predict_logits(network, form[None]).argmax(axis=1)[0])
            answer = "" if read == label else f"read {read}"
        if answer:
            misses += 1
            size = f"{frame[0]}x{frame[1]}"
            print(f"  {label} in {size:>9}, {height:.0%} of the height, pen {pen:.0%}: {answer}")
    print(f"{misses} of {len(cases)} straight-stroke digits on {a.paper} paper misread or refused")


if __name__ == "__main__":
    main()
