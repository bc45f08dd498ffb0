"""Upload -> MNIST form: polarity, transparency, EXIF, odd modes, cropping, 20 px box, centre of mass."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.predictors.preprocess import NoInkError, decode_image, to_mnist


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def bar(
    size: tuple[int, int] = (300, 200),
    box: tuple[int, int, int, int] = (40, 30, 70, 150),
    paper: int = 255,
    ink: int = 0,
) -> Image.Image:
    """A filled vertical bar of `ink` on `paper`: a '1' whose geometry is known exactly."""
    image = Image.new("L", size, paper)
    ImageDraw.Draw(image).rectangle(box, fill=ink)
    return image


def mass_centre(pixels: np.ndarray) -> tuple[float, float]:
    total = pixels.sum()
    rows, cols = np.indices(pixels.shape)
    return float((rows * pixels).sum() / total), float((cols * pixels).sum() / total)


def prepared(image: Image.Image, fmt: str = "PNG") -> np.ndarray:
    return to_mnist(decode_image(encode(image, fmt), 10**8))


def test_dark_ink_on_light_paper_becomes_white_on_black_20px_centred() -> None:
    out = prepared(bar())
    assert out.dtype == np.uint8 and out.shape == (28, 28)
    rows, cols = np.nonzero(out > 128)
    assert rows.max() - rows.min() + 1 == 20  # the longer side is 20 px
    assert 4 <= cols.max() - cols.min() + 1 <= 6  # 31 x 121 keeps its aspect: about 5 px wide
    cy, cx = mass_centre(out.astype(float))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background black


def test_white_on_black_is_left_as_is_and_matches_the_inverted_drawing() -> None:
    np.testing.assert_array_equal(prepared(bar(paper=0, ink=255)), prepared(bar()))


def test_position_and_size_on_the_canvas_do_not_matter() -> None:
    small = prepared(bar((300, 200), (40, 30, 70, 150)))
    moved = prepared(bar((900, 700), (600, 400, 630, 520)))
    np.testing.assert_array_equal(small, moved)
    big = prepared(bar((1200, 1000), (200, 100, 320, 580)))
    assert np.abs(big.astype(int) - small.astype(int)).mean() < 8


def test_grey_and_coloured_paper_and_shaded_ink() -> None:
    reference = prepared(bar())
    grey = prepared(bar(paper=170, ink=60))
    assert np.abs(grey.astype(int) - reference.astype(int)).mean() < 3
    coloured = Image.new("RGB", (300, 200), (240, 220, 150))
    ImageDraw.Draw(coloured).rectangle((40, 30, 70, 150), fill=(20, 30, 120))
    assert np.abs(prepared(coloured).astype(int) - reference.astype(int)).mean() < 3


def test_speckle_noise_does_not_move_the_box() -> None:
    image = bar()
    rng = np.random.default_rng(0)
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 12, (200, 300)).astype(np.int16)
    out = prepared(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    rows, _ = np.nonzero(out > 128)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)


def test_transparent_background_is_white() -> None:
    ink = np.asarray(bar(), dtype=np.uint8)
    rgba = np.zeros((200, 300, 4), np.uint8)  # black everywhere; only the bar is opaque
    rgba[..., 3] = 255 - ink
    out = prepared(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_array_equal(out, prepared(bar()))
    palette = bar().convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))
    assert prepared(palette).max() == 255


def test_light_strokes_on_a_transparent_canvas_show_on_black() -> None:
    """A dark-mode canvas: white (or yellow) strokes, the rest transparent, reads as the same bar."""
    ink = np.asarray(bar(), dtype=np.uint8)
    for colour in ((255, 255, 255), (250, 220, 40)):
        rgba = np.zeros((200, 300, 4), np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = 255 - ink  # only the bar is opaque
        out = prepared(Image.fromarray(rgba, "RGBA"))
        np.testing.assert_array_equal(out, prepared(bar()))
    paper = np.full((200, 300, 4), 255, np.uint8)  # light paper, mostly opaque, corners cut away
    paper[..., :3] = np.asarray(bar().convert("RGB"))
    paper[:40, :40, 3] = 0
    np.testing.assert_array_equal(prepared(Image.fromarray(paper, "RGBA")), prepared(bar()))


def test_exif_orientation_is_applied() -> None:
    upright = bar((300, 200), (40, 30, 200, 60))  # a horizontal bar
    rotated = upright.rotate(90, expand=True)  # stored as a vertical bar ...
    exif = Image.Exif()
    exif[0x0112] = 8  # ... with EXIF "rotate 90 CW to view": upright again
    data = encode(rotated.convert("RGB"), "JPEG", exif=exif.tobytes(), quality=95)
    out = to_mnist(decode_image(data, 10**8))
    rows, cols = np.nonzero(out > 128)
    assert cols.max() - cols.min() > rows.max() - rows.min()  # horizontal, as seen


@pytest.mark.parametrize("mode", ["1", "P", "LA", "RGB", "CMYK", "I;16", "I", "F"])
def test_every_mode_decodes_to_the_same_digit(mode: str) -> None:
    reference = prepared(bar())
    image = bar()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image, dtype=np.uint16) * 257)
    elif mode in ("I", "F"):
        image = bar().convert(mode)
    else:
        image = image.convert(mode)
    fmt = "TIFF" if mode in ("I", "F", "CMYK") else "PNG"
    out = to_mnist(decode_image(encode(image, fmt), 10**8))
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 2


def test_first_gif_frame_only() -> None:
    first, second = bar(), bar(box=(200, 30, 230, 150))
    data = encode(first, "GIF", save_all=True, append_images=[second, Image.new("L", (300, 200), 255)])
    np.testing.assert_array_equal(to_mnist(decode_image(data, 10**8)), prepared(first, "GIF"))


@pytest.mark.parametrize(
    "image", [Image.new("L", (50, 50), 255), Image.new("L", (50, 50), 0), Image.new("L", (1, 1))]
)
def test_blank_images_have_no_ink(image: Image.Image) -> None:
    with pytest.raises(NoInkError, match="no ink"):
        prepared(image)


def test_thin_strips_work() -> None:
    strip = Image.new("L", (5000, 1), 255)
    ImageDraw.Draw(strip).line((2000, 0, 3000, 0), fill=0)
    out = prepared(strip)
    assert out.max() > 0 and (out > 0).sum() <= 3 * 20  # one line, widened to MNIST strokes (3 px)


def test_shaded_paper_is_flattened() -> None:
    """A photo lit from one side: the paper goes from white to mid-grey; the digit must still be found."""
    reference = prepared(bar())
    shade = np.linspace(255, 110, 300, dtype=np.float32)[None, :].repeat(200, axis=0)
    stroke = np.asarray(bar(), dtype=np.float32) < 128
    photo = np.where(stroke, shade * 0.25, shade).astype(np.uint8)
    out = prepared(Image.fromarray(photo))
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 6  # a global paper level gives about 49


def test_thin_pen_strokes_are_widened_to_mnist_width() -> None:
    """A ballpoint '7' on a big page: 3 px strokes in a 400 px digit would be 0.15 px after scaling."""
    from app.predictors.preprocess import stroke_width

    page = Image.new("L", (1000, 800), 255)
    ImageDraw.Draw(page).line([(300, 200), (600, 200), (420, 600)], fill=0, width=3)
    out = prepared(page)
    assert 2.0 <= stroke_width(out.astype(np.float32)) <= 4.5
    assert 60 <= int((out > 128).sum()) <= 200  # MNIST digits have ~100 such pixels
    normal = prepared(bar())  # a stroke as wide as MNIST's is left alone
    np.testing.assert_array_equal(normal, prepared(bar()))


def test_heic_is_read_by_a_process_that_never_imported_pillow_heif() -> None:
    """pillow-heif is loaded on the first HEIC a process decodes, not at import (~7 MB a process)."""
    import subprocess
    import sys

    code = """
import io, sys
from PIL import Image, ImageDraw
from app.predictors.preprocess import decode_image, to_mnist
assert "pillow_heif" not in sys.modules and "HEIF" not in Image.OPEN
png = io.BytesIO(); heic = io.BytesIO()
image = Image.new("RGB", (120, 160), "white")
ImageDraw.Draw(image).rectangle((50, 30, 70, 130), fill="black")
image.save(png, "PNG")
import pillow_heif  # its encoder, without registering PIL's opener
pillow_heif.from_pillow(image).save(heic, quality=95)
assert "HEIF" not in Image.OPEN
a, b = to_mnist(decode_image(png.getvalue(), 10**8)), to_mnist(decode_image(heic.getvalue(), 10**8))
assert "HEIF" in Image.OPEN
print(abs(a.astype(int) - b.astype(int)).mean())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 2.0  # the same bar, up to HEVC's loss


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_damaged_heic_and_avif_are_read_or_refused_never_a_crash(fmt: str) -> None:
    """Bytes flipped anywhere past the file's first box: a 28x28 answer or a 4xx error, nothing else."""
    from pillow_heif import from_pillow

    from app.errors import ServiceError
    from app.predictors.preprocess import prepare_upload

    buffer = io.BytesIO()
    image = bar().convert("RGB")
    if fmt == "HEIF":
        from_pillow(image).save(buffer, quality=90)
    else:
        image.save(buffer, "AVIF", quality=90)
    clean = buffer.getvalue()
    rng = np.random.default_rng(3)
    outcomes = set()
    for _ in range(80):
        data = bytearray(clean)
        for at in rng.integers(32, len(data), size=int(rng.integers(1, 9))):
            data[at] = int(rng.integers(0, 256))
        try:
            pixels, _, _ = prepare_upload(bytes(data), 10**7)
            assert pixels.shape == (28, 28)
            outcomes.add("read")
        except ServiceError as exc:
            assert 400 <= exc.status < 500, exc
            outcomes.add(type(exc).__name__)
    assert len(outcomes) > 1, outcomes  # the damage reached the decoder: some read, some refused


def test_an_mnist_form_digit_grazing_the_border_is_not_lost_to_a_speck() -> None:
    """A 28x28 digit whose faint anti-aliased foot touches the bottom row is still the digit."""
    digit = np.zeros((28, 28), np.uint8)
    digit[7:10, 5:21] = 255  # a 7: its bar
    for row in range(10, 27):  # its stem, down to the left
        col = 20 - (row - 10) * 10 // 17
        digit[row, col - 1 : col + 2] = 255
    digit[27, 8:12] = 27  # the foot's fringe on the border row: ink, but faint
    alone = prepared(Image.fromarray(digit, "L"))
    digit[16:18, 2:5] = 110  # a speck beside it, clear of the border
    with_speck = prepared(Image.fromarray(digit, "L"))
    assert np.corrcoef(alone.ravel(), with_speck.ravel())[0, 1] > 0.95
    assert (with_speck > 0).sum() > 80  # the 7's strokes, not one enlarged speck
