"""The service's `prepare_upload` gives the same bytes and the same errors as the frozen reference.

The corpus: MNIST test digits as PNG (when the data cache is there), synthetic pen drawings
("photos") of every size, mode and format, thin pens that trigger the thickening, and odd files.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.predictors import paper
from app.predictors import preprocess as fast
from tests.app import preprocess_reference as reference

MAX_PIXELS = 40_000_000
Outcome = tuple[str, object]


def outcome(module: object, data: bytes, max_pixels: int = MAX_PIXELS) -> Outcome:
    """("ok", the 28x28 uint8) or ("error", (class name, code, message)) of `module.prepare_upload`."""
    try:
        pixels, _, _ = module.prepare_upload(data, max_pixels)  # type: ignore[attr-defined]
    except Exception as exc:
        return "error", (type(exc).__name__, getattr(exc, "code", None), str(exc))
    assert pixels.dtype == np.uint8 and pixels.shape == (28, 28)
    return "ok", pixels


def assert_same(data: bytes, max_pixels: int = MAX_PIXELS) -> None:
    got, want = outcome(fast, data, max_pixels), outcome(reference, data, max_pixels)
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        assert np.array_equal(got[1], want[1])  # type: ignore[arg-type]
    else:
        assert got[1] == want[1]


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def mnist_digits(count: int) -> np.ndarray:
    """`count` MNIST test digits from the data cache, or a skip when the cache is absent (CI)."""
    from training.datasets import load_mnist
    from training.fetch import MNIST_SOURCE, cache_dir

    if not (cache_dir() / f"mnist-{MNIST_SOURCE.sha256[:16]}.npz").exists():
        pytest.skip("MNIST is not in the data cache")
    return load_mnist().x_test[:count]


def pen_drawing(rng: np.random.Generator, size: tuple[int, int], pen: int, dark_ink: bool) -> Image.Image:
    """A random polyline digit-like scribble, off centre, with a shading gradient, as 'L'."""
    width, height = size
    paper, ink = (235, 25) if dark_ink else (20, 230)
    ramp = np.linspace(0.0, float(rng.uniform(-60, 60)), width, dtype=np.float32)
    canvas = Image.fromarray(np.clip(paper + ramp[None, :] + np.zeros((height, 1)), 0, 255).astype(np.uint8))
    side = max(2, int(min(width, height) * rng.uniform(0.2, 0.9)))
    x0, y0 = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    points = [(x0 + int(rng.integers(0, side)), y0 + int(rng.integers(0, side))) for _ in range(4)]
    ImageDraw.Draw(canvas).line(points, fill=ink, width=pen)
    return canvas


def styled(image: Image.Image, style: str, rng: np.random.Generator) -> bytes:
    """`image` ('L') as one of the upload styles: modes L/RGB/RGBA/P/LA as PNG, or JPEG."""
    if style == "jpeg":
        return encode(image.convert("RGB"), "JPEG", quality=int(rng.integers(50, 96)))
    if style == "rgba":
        rgba = Image.new("RGBA", image.size, (20, 20, 60, 0))
        rgba.putalpha(Image.fromarray(255 - np.asarray(image)))
        return encode(rgba)
    if style == "p":
        return encode(image.convert("RGB").quantize(16))
    return encode(image.convert({"l": "L", "rgb": "RGB", "la": "LA"}[style]))


STYLES = ("l", "rgb", "rgba", "p", "la", "jpeg")


def photos(seed: int, count: int) -> Iterator[bytes]:
    """Synthetic drawings from 8x8 to 1200x900, pens 1 to 40 px, both polarities, every style."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        if i % 10 == 0:
            size = (int(rng.integers(600, 1201)), int(rng.integers(450, 901)))
        else:
            size = (int(rng.integers(8, 320)), int(rng.integers(8, 320)))
        pen = int(rng.choice([1, 1, 2, 2, 3, 5, 8, 14, 25, 40]))
        image = pen_drawing(rng, size, pen, dark_ink=bool(i % 2))
        yield styled(image, STYLES[i % len(STYLES)], rng)


def thin_pens(seed: int, count: int) -> Iterator[bytes]:
    """1-2 px pens on 300-900 px canvases: the strokes are thickened."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        size = (int(rng.integers(300, 901)), int(rng.integers(300, 901)))
        image = pen_drawing(rng, size, int(rng.integers(1, 3)), dark_ink=bool(i % 2))
        yield styled(image, STYLES[i % len(STYLES)], rng)


def synthetic_digits(seed: int, count: int) -> Iterator[bytes]:
    """28x28 'L' PNGs, white strokes of 1-4 px on black, blurred a little: MNIST-like."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        image = pen_drawing(rng, (28, 28), int(rng.integers(1, 5)), dark_ink=False)
        pixels = np.asarray(image).astype(np.int16) - 20
        yield encode(Image.fromarray(np.clip(pixels * 1.1, 0, 255).astype(np.uint8)))


def test_mnist_digits_are_identical() -> None:
    for pixels in mnist_digits(300):
        assert_same(encode(Image.fromarray(pixels, mode="L")))


def test_synthetic_digits_are_identical() -> None:
    for data in synthetic_digits(seed=1, count=300):
        assert_same(data)


def test_photos_are_identical() -> None:
    for data in photos(seed=2, count=120):
        assert_same(data)


def ruled_sheets(seed: int, count: int) -> Iterator[bytes]:
    """Scribbles on ruled or squared paper (`training.marks.ruled_lines`), 200-700 px, PNG or JPEG."""
    from training.marks import ruled_lines

    rng = np.random.default_rng(seed)
    for i in range(count):
        size = (int(rng.integers(200, 701)), int(rng.integers(200, 701)))
        sheet = np.full((size[1], size[0], 3), 240.0, np.float32)
        ruled_lines(sheet, rng, squared=i % 2 == 0)
        image = Image.fromarray(sheet.astype(np.uint8)).convert("L")
        scribble = pen_drawing(rng, size, int(rng.integers(2, 12)), dark_ink=True)
        image = Image.fromarray(np.minimum(np.asarray(image), np.asarray(scribble)))
        yield styled(image, ("l", "jpeg")[i % 2], rng)


def test_ruled_paper_is_identical() -> None:
    from bench.strokes import ruled  # the lines turned as a photo of a notebook page turns them

    for data in ruled_sheets(seed=5, count=16):
        assert_same(data)
    for label, angle, step in itertools.product((2, 4, 7), (-9.0, 3.0, 6.0, 11.0), (0.06, 0.1)):
        assert_same(ruled(label, (300, 400), 0.3, 0.03, angle, step))
    for label, angle, ink in itertools.product((2, 4, 7), (0.0, 5.0), (20.0, 120.0)):  # bars on lines
        assert_same(ruled(label, (300, 400), 0.5, 0.03, angle, 0.05, True, ink))
    for label in (1, 7):  # pencil along the lines, 1.8 times as dark as they are
        assert_same(ruled(label, (300, 400), 0.3, 0.03, 0.0, 0.05, True, 120.0))
    rng = np.random.default_rng(9)
    for i in range(6):  # a margin darker than the lines beside a scribble; squares darker where they cross
        sheet = np.full((300, 360), 245.0, np.float32)
        sheet[12::32, :] *= 0.72
        if i % 2:
            sheet[:, 5::32] *= 0.72
        else:
            sheet[:, 100 + 8 * i : 102 + 8 * i] = np.minimum(sheet[:, 100 + 8 * i : 102 + 8 * i], 120.0)
        pen = int(rng.integers(4, 14))
        scribble = np.asarray(pen_drawing(rng, (360, 300), pen, dark_ink=True), np.float32)
        assert_same(encode(Image.fromarray(np.minimum(sheet, scribble).astype(np.uint8))))


def test_sheets_turned_further_are_identical() -> None:
    from bench.strokes import ruled  # lines steeper than 12 degrees: found near the coarse look's slopes

    for label, angle, squared in itertools.product((2, 7), (-40.0, -25.0, 20.0, 33.0, 45.0), (False, True)):
        assert_same(ruled(label, (300, 400), 0.3, 0.03, angle, 0.1, squared))
    for label, angle in ((0, 35.0), (4, -18.0)):  # shrunk 4 times for the coarse look
        assert_same(ruled(label, (1000, 1000), 0.3, 0.03, angle, 0.06, True))
    for label in (1, 7):  # turned 10 degrees: its lines' corners also fit a steep slope, and are left
        assert_same(ruled(label, (300, 400), 0.5, 0.03, 10.0, 0.05, True, 120.0))


@pytest.mark.parametrize("paper_kind", ["even", "light", "grain"])
def test_straight_stroke_digits_are_identical(paper_kind: str) -> None:
    from bench.strokes import drawn  # long straight strokes, up to close to the frame's edges

    for label in (1, 2, 4, 7, 9):
        for height in (0.6, 0.94, 0.97, 0.99):
            for pen in (0.01, 0.03, 0.08):
                assert_same(drawn(label, (300, 400), height, pen, paper_kind))


def canvas_drawings() -> Iterator[bytes]:
    """Straight-stroke digits on the page's canvas, run to and past its edges (`bench.strokes`)."""
    from bench.strokes import canvas

    for label, height, shift in itertools.product((2, 4, 7), (0.8, 1.0, 1.1), (-0.1, 0.0, 0.1)):
        yield canvas(label, height, shift)


def test_canvas_drawings_to_the_edge_are_identical() -> None:
    for data in canvas_drawings():
        assert_same(data)


def boxed_digits() -> Iterator[bytes]:
    """Straight-stroke digits in a printed box or a circle, thin or thick, round or touching them."""
    from bench.strokes import boxed

    for label, height, size, thick in itertools.product((0, 1, 4, 7), (0.4, 0.6), (0.7, 0.85), (0.005, 0.01)):
        yield boxed(label, (300, 400), height, 0.03, size, thick)
    for label, height, thick in itertools.product((0, 4, 9), (0.4, 0.5), (0.005, 0.01)):
        yield boxed(label, (300, 400), height, 0.03, 0.85, thick, shape="circle")


def test_boxed_digits_are_identical() -> None:
    for data in boxed_digits():
        assert_same(data)


def test_sheets_on_a_desk_are_identical() -> None:
    from bench.strokes import on_desk  # a sheet of paper lying on a darker desk, in the middle

    for label, sheet, desk in itertools.product((1, 4, 7), (0.6, 0.8), (40, 150)):
        assert_same(on_desk(label, (300, 400), 0.45, 0.03, sheet, desk))


def test_small_sheets_on_a_wooden_desk_are_identical() -> None:
    from bench.strokes import on_desk  # streaks of wood on both sides of the sheet, in line with a bar

    grid = itertools.product((0, 2, 7), ((300, 400), (750, 1000)), (0.4, 0.6), ("across", "upright"))
    for label, frame, sheet, grain in grid:
        assert_same(on_desk(label, frame, 0.3, 0.03, sheet, 90, grain=grain))
    for label in (1, 4):  # a light digit beside the halo of the desk round the sheet
        assert_same(on_desk(label, (300, 400), 0.3, 0.03, 0.6, 90, grain="upright"))
    assert_same(on_desk(1, (750, 1000), 0.35, 0.03, 0.6, 90, grain="upright"))  # a 1 fills its box


def test_sheets_leaving_a_desk_along_two_sides_are_identical() -> None:
    from bench.strokes import on_desk

    for label, edges in itertools.product((1, 7), ((0.12, 0.0, 1.0, 0.9), (0.0, 0.15, 0.85, 1.0))):
        assert_same(on_desk(label, (300, 400), 0.3, 0.03, 0.0, 60, edges))


def test_digits_beside_a_stray_dot_are_identical() -> None:
    from bench.strokes import dotted  # a large digit and a dot of pen elsewhere in the frame

    for label, height, corner in itertools.product((1, 7), (0.6, 0.9), (True, False)):
        assert_same(dotted(label, (750, 1000), height, 0.03, "even", corner))


def test_fat_digits_cropped_to_fill_the_frame_are_identical() -> None:
    from bench.strokes import boxed, dotted, drawn  # border objects by their contact, beside a dot

    for label, pen, paper_kind, corner in itertools.product(
        (1, 7), (0.1, 0.14), ("even", "grain"), (True, False)
    ):
        assert_same(dotted(label, (300, 400), 0.99, pen, paper_kind, corner))
    for label in (0, 4, 9):
        assert_same(drawn(label, (300, 400), 0.99, 0.14, "grain"))
    for paper_kind in ("even", "light", "grain"):  # a fat 7 whose stem is no pen, landscape
        assert_same(drawn(7, (400, 300), 0.97, 0.1, paper_kind))
    assert_same(drawn(9, (300, 400), 1.0, 0.14, "light"))
    for label, frame in itertools.product((0, 2, 7), ((300, 400), (400, 300))):  # no digit filling
        assert_same(boxed(label, frame, 0.25, 0.02, 1.05, 0.02, "circle"))  # a circle the frame cuts
    rng = np.random.default_rng(4)
    for stem, bar in itertools.product((26, 34, 44), (30, 40)):  # a stem off the frame, thinner or not
        image = Image.new("L", (300, 300), 235)
        ImageDraw.Draw(image).line([(40, 45), (250, 40)], fill=30, width=bar)
        ImageDraw.Draw(image).line([(250, 40), (150, 330)], fill=30, width=stem)
        grainy = np.clip(np.asarray(image) + rng.normal(0.0, 8.0, (300, 300)), 0, 255).astype(np.uint8)
        assert_same(encode(Image.fromarray(grainy), "JPEG", quality=90))


def test_underlined_digits_are_identical() -> None:
    from bench.strokes import underlined  # a line under the digit: not a part of it

    for label, height, gap, width in itertools.product((1, 4, 7), (0.3, 0.6), (0.02, 0.06), (0.6, 1.2)):
        assert_same(underlined(label, (750, 1000), height, 0.03, gap, width))


def test_underexposed_photos_are_identical() -> None:
    from bench.strokes import dim  # the paper at 96, not 240

    for label, sheet, noise in itertools.product((0, 4, 7), ("even", "light"), (3.0, 8.0)):
        assert_same(dim(label, (300, 400), 0.6, 0.03, sheet, noise))


def test_overexposed_photos_are_identical() -> None:
    from bench.strokes import bright  # the lit part of the paper clipped at 255

    for label, sheet, noise in itertools.product((0, 4, 9), ("even", "light"), (2.0, 6.0)):
        assert_same(bright(label, (300, 400), 0.6, 0.03, sheet, noise))


def test_hard_shadows_are_identical() -> None:
    from bench.strokes import shadowed  # a hard shadow across the digit, or in a corner

    for label, edge, dark in itertools.product((0, 2, 7), (0.0, 0.4), (0.45, 0.7)):
        assert_same(shadowed(label, (750, 1000), 0.45, 0.03, edge, dark))


def thickened(data: bytes) -> bool:
    """Whether the reference widens the strokes of this upload (to_mnist's steps up to the crop)."""
    found = reference.digit_ink(*reference.ink_map(reference.decode_image(data, MAX_PIXELS)))
    if found is None:  # no ink: refused, not thickened
        return False
    ink, peak = found
    rows, cols = np.flatnonzero(ink.sum(1)), np.flatnonzero(ink.sum(0))
    crop = np.minimum(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] * (255.0 / peak), 255.0)
    return reference._widened(reference._image(crop.astype(np.float32))) is not None


def test_thin_pens_are_identical_and_thickened() -> None:
    uploads = list(thin_pens(seed=3, count=24))
    for data in uploads:
        assert_same(data)
    assert sum(thickened(data) for data in uploads) >= 12  # the corpus does exercise the thickening


def exif_rotated_jpeg(orientation: int) -> bytes:
    image = Image.new("RGB", (60, 40), "white")
    ImageDraw.Draw(image).line([(5, 5), (50, 30)], fill="black", width=4)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes())


def odd_files() -> Iterator[bytes]:
    yield from (encode(Image.new("L", (1, 1), v)) for v in (0, 255))
    yield from (encode(Image.new(mode, (40, 30), 200)) for mode in ("L", "RGB", "RGBA"))  # blank
    sixteen = np.zeros((30, 30), np.uint16)
    sixteen[8:22, 13:17] = 60_000
    yield encode(Image.fromarray(sixteen))  # 16-bit PNG
    palette = Image.new("P", (30, 30), 0)
    palette.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    ImageDraw.Draw(palette).line([(5, 5), (25, 25)], fill=1, width=3)
    yield encode(palette, transparency=0)  # palette with a transparent colour
    yield from (exif_rotated_jpeg(o) for o in range(1, 9))
    yield encode(Image.new("1", (30, 30), 1))
    yield encode(Image.new("RGB", (30, 30), "white"), "BMP")
    yield encode(Image.new("L", (30, 30), 9), "GIF")
    yield encode(Image.new("L", (30, 30), 250), "TIFF")
    png = next(photos(seed=4, count=1))
    yield from (b"", b"hello", png[:40], png[: len(png) // 2], png[:8] + b"\x00" * 100)
    jpeg = exif_rotated_jpeg(6)
    yield from (jpeg[:30], jpeg[: len(jpeg) - 50], b"RIFF\x00\x00\x00\x00WEBPVP8 ")


def test_odd_files_give_the_same_result_or_error() -> None:
    for data in odd_files():
        assert_same(data)


def test_pixel_limits_give_the_same_error() -> None:
    data = encode(Image.new("L", (300, 200), 255))
    for limit in (100, 59_999, 60_000):
        assert_same(data, limit)


@pytest.mark.parametrize("n", [1, 2, 7, 112, 113])
def test_median_equals_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(200):
        values = (rng.random(n) * 255).astype(np.float32)
        if trial % 2:
            values = np.round(values)
        if trial % 50 == 0:
            values[0] = np.nan
        want = float(np.median(values))
        assert paper._median(values) == want or (np.isnan(want) and np.isnan(paper._median(values)))
