"""Builders for hostile and odd uploads: digits in unusual encodings, broken files, bombs."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw


def digit_image(size: int = 200) -> Image.Image:
    """A thick dark '7' on white, RGB: the kind of drawing a user uploads."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    s = size / 200
    draw.line([(50 * s, 40 * s), (150 * s, 40 * s), (90 * s, 170 * s)], fill="black", width=int(18 * s))
    return img


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """The image saved in `fmt` (PNG, JPEG, GIF, ...)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def random_bytes(n: int = 4096, seed: int = 7) -> bytes:
    """Deterministic noise that is no image format."""
    return random.Random(seed).randbytes(n)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first `keep` fraction of a file: headers intact, pixel data cut off."""
    return data[: int(len(data) * keep)]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, rows: int = 1) -> bytes:
    """A valid-looking greyscale PNG whose header claims width x height but carries only `rows` rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(1)
    row = b"\x00" + b"\xff" * width  # filter byte, then white pixels
    block = row * min(rows, 256)
    idat = b"".join(comp.compress(block) for _ in range(rows // 256)) + comp.compress(row * (rows % 256))
    idat += comp.flush()
    sig = b"\x89PNG\r\n\x1a\n"
    return sig + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def animated_gif(frames: int = 1000, size: int = 64) -> bytes:
    """A GIF of `frames` distinct frames (a moving dot), the first one a drawn '7'."""
    first = digit_image(size).convert("L")
    rest = []
    for i in range(1, frames):
        img = Image.new("L", (size, size), 255)
        img.putpixel((i % size, (i // size) % size), 0)
        rest.append(img)
    return encode(first, "GIF", save_all=True, append_images=rest, duration=10, loop=0)


def sixteen_bit_png() -> bytes:
    """The digit as a 16-bit greyscale PNG (mode I;16)."""
    import numpy as np

    grey = np.asarray(digit_image().convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(grey), "PNG")


def thin_strip(width: int, height: int, ink: bool = True) -> bytes:
    """A 1-pixel-thin white strip, its middle fifth dark ink when `ink`."""
    img = Image.new("L", (width, height), 255)
    if ink:
        long_side = max(width, height)
        for i in range(2 * long_side // 5, 3 * long_side // 5):
            img.putpixel((i, 0) if width > height else (0, i), 0)
    return encode(img, "PNG")
