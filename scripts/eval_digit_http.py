"""Accuracy of POST /predict/digit over HTTP: all MNIST test images as PNG, and non-MNIST-style versions.

The non-MNIST-style images are MNIST test digits scaled up, inverted (dark ink on white), pasted
off centre into a large canvas, and sent as RGB PNG, RGBA PNG with a transparent background and JPEG.

    python -m uvicorn app.main:app --port 8000 &
    python scripts/eval_digit_http.py --url http://127.0.0.1:8000 [--limit 1000] [--styled 500]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

STYLES = ("rgb_png", "rgba_png", "jpeg")


def png(pixels: np.ndarray) -> bytes:
    """A 28x28 uint8 digit as a greyscale PNG, unchanged."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def big_off_centre(pixels: np.ndarray, index: int) -> Image.Image:
    """Dark-on-white 'L' canvas: the digit scaled 8-14x and pasted near a corner chosen by `index`."""
    rng = np.random.default_rng(index)
    side = int(rng.integers(224, 393))
    digit = Image.fromarray(255 - pixels, mode="L").resize((side, side), Image.Resampling.BICUBIC)
    width, height = int(rng.integers(800, 1201)), int(rng.integers(600, 901))
    canvas = Image.new("L", (width, height), 255)
    corner = index % 4
    x = int(rng.integers(0, 40)) if corner in (0, 2) else width - side - int(rng.integers(0, 40))
    y = int(rng.integers(0, 40)) if corner in (0, 1) else height - side - int(rng.integers(0, 40))
    canvas.paste(digit, (x, y))
    return canvas


def styled(pixels: np.ndarray, index: int, style: str) -> bytes:
    """One non-MNIST-style upload of an MNIST digit, in `style` (one of STYLES)."""
    canvas = big_off_centre(pixels, index)
    buffer = io.BytesIO()
    if style == "rgb_png":
        canvas.convert("RGB").save(buffer, format="PNG")
    elif style == "rgba_png":  # ink colour everywhere, opacity = ink: the background is transparent
        ink = Image.new("RGBA", canvas.size, (20, 20, 60, 0))
        ink.putalpha(Image.fromarray(255 - np.asarray(canvas), mode="L"))
        ink.save(buffer, format="PNG")
    elif style == "jpeg":
        canvas.convert("RGB").save(buffer, format="JPEG", quality=85)
    else:
        raise ValueError(f"unknown style {style!r}")
    return buffer.getvalue()


async def classify(client: httpx.AsyncClient, uploads: list[bytes], concurrency: int) -> list[int]:
    """POST every upload to /predict/digit, `concurrency` at a time; -1 for a non-200 answer."""
    answers = [-1] * len(uploads)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(uploads):
            i, next_index = next_index, next_index + 1
            response = await client.post("/predict/digit", files={"file": ("digit.png", uploads[i])})
            if response.status_code == 200:
                answers[i] = int(response.json()["digit"])
            else:
                print(f"image {i}: {response.status_code} {response.text[:200]}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def accuracy(name: str, labels: np.ndarray, answers: list[int], seconds: float) -> float:
    correct = float(np.mean(np.asarray(answers) == labels))
    failed = sum(a < 0 for a in answers)
    print(f"{name:>10}: accuracy {correct:.4f} on {len(labels)} images ({failed} errors), {seconds:.1f} s")
    return correct


async def evaluate(args: argparse.Namespace, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    results = {}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, timeout=60.0, limits=limits) as client:
        (await client.get("/readyz")).raise_for_status()
        sets: list[tuple[str, Callable[[int], bytes], int]] = [
            ("mnist_png", lambda i: png(images[i]), len(images))
        ]
        for style in STYLES:
            sets.append((style, lambda i, s=style: styled(images[i], i, s), min(args.styled, len(images))))
        for name, make, count in sets:
            uploads = [make(i) for i in range(count)]
            start = time.perf_counter()
            answers = await classify(client, uploads, args.concurrency)
            results[name] = accuracy(name, labels[:count], answers, time.perf_counter() - start)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--limit", type=int, default=10_000, help="MNIST test images to send (all: 10000)")
    parser.add_argument("--styled", type=int, default=1000, help="non-MNIST-style images per style")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=None, help="local MNIST copy (see training)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file from anywhere
    from training.datasets import load_mnist

    mnist = load_mnist(args.data_dir)
    images, labels = mnist.x_test[: args.limit], mnist.y_test[: args.limit]
    asyncio.run(evaluate(args, images, labels))


if __name__ == "__main__":
    main()
