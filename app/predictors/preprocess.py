"""Any uploaded digit picture -> MNIST form: 28x28 uint8, white on black, 20 px box, centred by mass.

Decoding (`decode_image`) is separate from the geometry (`to_mnist`) so each can be timed and tested.
"""

from __future__ import annotations

import io
import math
import time
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.predictors.ink import digit_ink
from app.predictors.paper import _image, _pixels, _rank_filter, ink_map
from models.features import DIGIT_BOX, IMAGE_SIZE

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
Grey = npt.NDArray[np.float32]

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
