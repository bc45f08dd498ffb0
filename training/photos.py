"""MNIST digits rendered as uploads: dark ink on synthetic paper, photographed, encoded as a file.

One effect class per kind of upload the service meets (`EFFECTS`). Used two ways, never on the
same digits: training renders *training* digits at small frames (cheap, for augmentation), and
`bench.uploads` renders *test* digits at phone-photo frames (the upload benchmark).

    render(digit, "textured_paper", rng, frame=(320, 240)) -> PNG or JPEG bytes
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from training.marks import Float, border_object, ruled_lines, stray_mark

EFFECTS = (
    "textured_paper",
    "uneven_light",
    "border_object",
    "ruled_paper",
    "thin_pencil",
    "marker_on_colour",
    "small_digit",
    "jpeg_photo",
    "canvas_drawing",
    "mnist_form",
    "tilted_photo",
)
RENDER_SIDE = 800  # larger photos are drawn at this size and enlarged
PAPERS = ((250, 250, 246), (238, 236, 228), (226, 222, 210), (214, 214, 212), (244, 240, 226))
COLOUR_PAPERS = ((252, 236, 140), (250, 200, 210), (180, 214, 240), (196, 232, 190), (250, 214, 170))
INKS = ((20, 20, 24), (24, 36, 110), (40, 40, 48), (18, 60, 150), (70, 30, 30))
MARKERS = ((10, 10, 10), (20, 40, 170), (170, 20, 30), (20, 110, 40))


def stroke_map(digit: npt.NDArray[np.uint8], side: int, width: float, rng: np.random.Generator) -> Float:
    """(28, 28) digit -> (side, side) ink coverage in [0, 1]; width < 1 thins the strokes, > 1 thickens."""
    up = Image.fromarray(digit, "L").resize((side, side), Image.Resampling.BICUBIC)
    if width > 1.0:  # a max filter widens every stroke by about (k - 1) pixels of `side`
        k = max(3, round((width - 1.0) * side / 28.0 * 2.0) | 1)
        up = up.filter(ImageFilter.MaxFilter(min(k, 15)))
    x = np.asarray(up, np.float32) / 255.0
    if width < 1.0:  # keep only the strokes' cores: a thinner line, soft edges
        cut = float(np.clip(1.0 - width, 0.0, 0.85))
        x = np.clip((x - cut) / max(1e-3, 1.0 - cut), 0.0, 1.0)
    x = np.clip(x * rng.uniform(1.0, 1.4), 0.0, 1.0)  # pen pressure: solid cores
    return x.astype(np.float32)


def smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> Float:
    """Zero-mean, unit-ish noise varying over about `cells` cells across the longer side."""
    h, w = shape
    gh, gw = max(2, cells * h // max(h, w) + 2), max(2, cells * w // max(h, w) + 2)
    grid = Image.fromarray(rng.standard_normal((gh, gw)).astype(np.float32), "F")
    return np.asarray(grid.resize((w, h), Image.Resampling.BICUBIC), np.float32)


def paper(
    shape: tuple[int, int], colour: tuple[int, int, int], grain: float, rng: np.random.Generator
) -> Float:
    """(H, W, 3) paper in 0..255: its colour, fibres at a few scales and per-pixel grain of `grain` levels."""
    texture = sum(smooth_noise(shape, c, rng) * a for c, a in ((4, 0.5), (24, 0.35), (90, 0.3)))
    texture = (
        texture * grain * rng.uniform(0.3, 1.0) + rng.standard_normal(shape).astype(np.float32) * grain * 0.5
    )
    base = np.asarray(colour, np.float32) + rng.uniform(-8, 8, 3).astype(np.float32)
    return np.clip(base[None, None, :] + texture[..., None], 0, 255).astype(np.float32)


def lighting(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> Float:
    """(H, W) multiplier <= 1: a linear gradient, a vignette and sometimes a soft shadow."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / max(h - 1, 1) - 0.5, x / max(w - 1, 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x + np.sin(angle) * y + 0.71) / 1.42  # 0..1 across the frame
    light = 1.0 - strength * rng.uniform(0.3, 0.8) * ramp
    light -= strength * rng.uniform(0.0, 0.9) * (x**2 + y**2)  # vignetting
    if rng.uniform() < 0.5:  # a soft shadow over one side of a random line
        a = rng.uniform(0, 2 * np.pi)
        side = np.cos(a) * x + np.sin(a) * y - rng.uniform(0.15, 0.45)
        edge = 1.0 / (1.0 + np.exp(-side / rng.uniform(0.02, 0.1)))
        light *= 1.0 - strength * rng.uniform(0.2, 0.5) * edge
    return np.clip(light, 0.15, 1.0).astype(np.float32)


def place(
    canvas_shape: tuple[int, int], side: int, rng: np.random.Generator, centre_spread: float
) -> tuple[int, int]:
    """(top, left) of a side x side digit inside the canvas, near the centre by `centre_spread`."""
    h, w = canvas_shape
    room_y, room_x = max(0, h - side), max(0, w - side)
    top = int(np.clip(room_y / 2 + rng.uniform(-1, 1) * centre_spread * room_y / 2, 0, room_y))
    left = int(np.clip(room_x / 2 + rng.uniform(-1, 1) * centre_spread * room_x / 2, 0, room_x))
    return top, left


def ink_on(
    sheet: Float, cover: Float, at: tuple[int, int], colour: tuple[int, int, int], opacity: float
) -> None:
    """Blend ink of `colour` into `sheet` (H, W, 3) where `cover` (h, w) in [0, 1] says, in place."""
    top, left = at
    h, w = cover.shape
    region = sheet[top : top + h, left : left + w]
    alpha = (cover[: region.shape[0], : region.shape[1]] * opacity)[..., None]
    region *= 1.0 - alpha
    region += alpha * np.asarray(colour, np.float32)


def photographed(image: Image.Image, rng: np.random.Generator, blur: float, tilt: float) -> Image.Image:
    """A slight perspective (`tilt` of the side) and a defocus blur of `blur` px, as a phone does."""
    w, h = image.size
    if tilt > 0:  # the frame sees a quadrilateral inside the sheet: no corner is left empty
        d = rng.uniform(0, tilt, 8) * np.array([w, h] * 4) * np.array([1, 1, 1, -1, -1, -1, -1, 1])
        corners = np.array([0, 0, 0, h, w, h, w, 0], np.float64) + d
        image = image.transform((w, h), Image.Transform.QUAD, corners.tolist(), Image.Resampling.BILINEAR)
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return image


def encode(image: Image.Image, fmt: str, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=int(rng.integers(45, 92)))
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def frame_for(effect: str, frame: tuple[int, int], rng: np.random.Generator) -> tuple[tuple[int, int], float]:
    """(H, W) of the photo and the digit's side as a fraction of the shorter side, for an effect."""
    w, h = frame
    if rng.uniform() < 0.5:
        w, h = h, w  # portrait or landscape
    if effect == "small_digit":
        return (h, w), rng.uniform(0.1, 0.22)
    if effect == "tilted_photo":  # a turned sheet: the digit's box must still fit the frame
        return (h, w), rng.uniform(0.3, 0.65)
    return (h, w), rng.uniform(0.3, 0.95)


def effect_uniform(
    effect: str,
    rng: np.random.Generator,
    ranges: dict[str, tuple[float, float]],
    default: tuple[float, float],
) -> float:
    """A uniform draw in `effect`'s range if it has one, else in `default`.

    Every range is drawn, in order, then the default: the generator moves the same for every effect.
    """
    drawn = {name: rng.uniform(lo, hi) for name, (lo, hi) in ranges.items()}
    fallback = rng.uniform(*default)
    return drawn.get(effect, fallback)


def drawing_frame(frame: tuple[int, int]) -> tuple[int, int]:
    """`frame` shrunk to at most RENDER_SIDE px on its longer side: larger photos are drawn small."""
    if max(frame) <= RENDER_SIDE:
        return frame
    r = RENDER_SIDE / max(frame)
    return (max(8, round(frame[0] * r)), max(8, round(frame[1] * r)))


def blank_sheet(shape: tuple[int, int], effect: str, rng: np.random.Generator) -> Float:
    """The effect's paper before any ink: its colour and grain, and lines if it is ruled."""
    grain = effect_uniform(effect, rng, {"textured_paper": (6, 22), "jpeg_photo": (3, 12)}, (0, 6))
    colour = COLOUR_PAPERS[rng.integers(5)] if effect == "marker_on_colour" else PAPERS[rng.integers(5)]
    sheet = paper(shape, colour, grain, rng)
    if effect == "ruled_paper":
        ruled_lines(sheet, rng, squared=rng.uniform() < 0.4)
    return sheet


def drawn_sheet(
    digit: npt.NDArray[np.uint8], effect: str, rng: np.random.Generator, frame: tuple[int, int]
) -> Float:
    """(H, W, 3) paper in 0..255 with the digit written on it in the effect's pen, and its marks."""
    shape, fraction = frame_for(effect, frame, rng)
    side = max(12, int(fraction * min(shape)))
    if effect == "tilted_photo":  # the sheet turned under the phone: 10 to 35 degrees either way
        angle = rng.uniform(10, 35) * rng.choice((-1.0, 1.0))
        digit = np.asarray(Image.fromarray(digit, "L").rotate(angle, Image.Resampling.BICUBIC))
    width = effect_uniform(
        effect, rng, {"thin_pencil": (0.25, 0.7), "marker_on_colour": (1.4, 2.6)}, (0.6, 1.6)
    )
    cover = stroke_map(digit, side, width, rng)
    sheet = blank_sheet(shape, effect, rng)
    at = place(shape, side, rng, 0.9 if effect == "small_digit" else 0.5)
    ink, opacity = INKS[rng.integers(5)], rng.uniform(0.75, 1.0)
    if effect == "thin_pencil":
        ink, opacity = (70, 70, 75), rng.uniform(0.3, 0.6)
        stray_mark(sheet, rng, (*at, side))
    elif effect == "marker_on_colour":
        ink = MARKERS[rng.integers(4)]
    ink_on(sheet, cover, at, ink, opacity)
    if effect == "border_object":
        border_object(sheet, rng)
    return sheet


def photo_of(sheet: Float, effect: str, rng: np.random.Generator) -> Image.Image:
    """The sheet under the effect's light, photographed (perspective, defocus); `sheet` is lit in place."""
    h, w = sheet.shape[:2]
    strength = effect_uniform(
        effect, rng, {"uneven_light": (0.4, 0.85), "jpeg_photo": (0.2, 0.6)}, (0.0, 0.3)
    )
    sheet *= lighting((h, w), strength, rng)[..., None]
    image = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8), "RGB")
    return photographed(image, rng, rng.uniform(0, 1.2) * min(h, w) / 300, rng.uniform(0, 0.04))


def enlarged(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """The photo at `target` px in its own orientation, if that is larger, as a phone's sensor gives it."""
    if max(target) <= max(image.size):
        return image
    landscape = image.width >= image.height
    size = (max(target), min(target)) if landscape else (min(target), max(target))
    return image.resize(size, Image.Resampling.BICUBIC)


def render(
    digit: npt.NDArray[np.uint8], effect: str, rng: np.random.Generator, frame: tuple[int, int]
) -> bytes:
    """One upload of the (28, 28) MNIST `digit` in `effect`'s style, about `frame` = (W, H) px, as bytes."""
    if effect == "mnist_form":
        return encode(Image.fromarray(digit, "L"), "PNG", rng)
    if effect == "canvas_drawing":
        return canvas_drawing(digit, rng, min(frame))
    sheet = drawn_sheet(digit, effect, rng, drawing_frame(frame))
    image = enlarged(photo_of(sheet, effect, rng), frame)
    fmt = "JPEG" if effect in ("jpeg_photo", "small_digit") or rng.uniform() < 0.4 else "PNG"
    return encode(image, fmt, rng)


def canvas_drawing(digit: npt.NDArray[np.uint8], rng: np.random.Generator, side: int) -> bytes:
    """The digit as a mouse or finger drawing on a web canvas: an even, solid line, anti-aliased, PNG."""
    side = max(56, side)
    up = np.asarray(Image.fromarray(digit, "L").resize((side, side), Image.Resampling.BICUBIC), np.float32)
    line = np.clip((up - rng.uniform(60, 160)) * 0.1, 0, 1)  # a solid pen, soft by about 10 levels
    if rng.uniform() < 0.5:  # dark on white, as the page draws
        pixels = (255 - line * 255).astype(np.uint8)
        return encode(Image.fromarray(pixels, "L").convert("RGB"), "PNG", rng)
    rgba = np.zeros((side, side, 4), np.uint8)  # ink on a transparent canvas
    rgba[..., :3] = INKS[rng.integers(5)]
    rgba[..., 3] = (line * 255).astype(np.uint8)
    return encode(Image.fromarray(rgba, "RGBA"), "PNG", rng)


STYLE_CLASSES = ("flagged_one", "crossed_seven")  # MNIST-form digits in styles MNIST rarely has
BENCH_FRAMES = {"jpeg_photo": (1600, 3000), "small_digit": (1200, 2400)}  # longer side, px
BENCH_FRAME = (480, 1600)


def upload_set(
    digits: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], per_class: int, seed: int
) -> list[tuple[str, int, bytes]]:
    """(class, label, file bytes): `per_class` uploads in every effect and style class, seeded.

    Each class draws its own digits from `digits` (pass MNIST *test* digits for the benchmark);
    the style classes take the 1s and 7s and draw the flag or the bar on them (MNIST form).
    """
    from training.styles import crossed_seven, flagged_one

    rng = np.random.default_rng(seed)
    out: list[tuple[str, int, bytes]] = []
    for effect in EFFECTS:
        lo, hi = BENCH_FRAMES.get(effect, BENCH_FRAME)
        for i in rng.choice(len(digits), per_class, replace=False):
            long_side = int(rng.integers(lo, hi + 1))
            frame = (long_side, int(long_side * rng.uniform(0.56, 0.8)))
            out.append((effect, int(labels[i]), render(digits[i], effect, rng, frame)))
    for name, digit, style in (("flagged_one", 1, flagged_one), ("crossed_seven", 7, crossed_seven)):
        pool = np.flatnonzero(labels == digit)
        for i in rng.choice(pool, min(per_class, len(pool)), replace=False):
            out.append((name, digit, encode(Image.fromarray(style(digits[i], rng), "L"), "PNG", rng)))
    return out
