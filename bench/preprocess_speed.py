"""What bringing an upload to MNIST form costs, now and at an earlier commit, side by side in one process.

    python -m bench.preprocess_speed                    # against the preprocessing before the upload issue
    python -m bench.preprocess_speed --before HEAD~3    # or any commit
    python -m bench.preprocess_speed --url http://127.0.0.1:8000   # also over HTTP, one at a time

Cases: a 28x28 MNIST test digit as PNG, a 1000x1000 phone-style JPEG and a 12-megapixel one
(4000x3000, 2-3 MB, with sensor noise), built from MNIST test digits. Rounds alternate between the
two versions; the best round is reported (ms per upload, decoding and the rest).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from app.predictors import preprocess
from training.datasets import load_mnist
from training.photos import render

BEFORE = "ec3c392^"  # the commit before the ink-versus-paper preprocessing
ROOT = Path(__file__).resolve().parents[1]


def module_at(rev: str) -> ModuleType:
    """app/predictors/preprocess.py as it was at `rev`, with the predictor modules it imports at `rev`."""
    folder = Path(tempfile.mkdtemp())
    names = ("preprocess", "ink", "paper", "ruled", "bars")
    for name in names:
        shown = subprocess.run(
            ["git", "show", f"{rev}:app/predictors/{name}.py"], cwd=ROOT, capture_output=True, text=True
        )
        if shown.returncode == 0:
            text = shown.stdout
            for other in names:
                text = text.replace(f"from app.predictors.{other} import", f"from {other}_at_rev import")
            (folder / f"{name}_at_rev.py").write_text(text)
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("preprocess_at_rev", folder / "preprocess_at_rev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def phone_jpeg(digit: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> bytes:
    """A phone-style photo of `digit`, enlarged to `size` with sensor noise, JPEG quality 92."""
    photo = Image.open(io.BytesIO(render(digit, "jpeg_photo", rng, (800, 600)))).convert("RGB")
    pixels = np.asarray(photo.resize(size, Image.Resampling.BICUBIC), np.float32)
    pixels += rng.normal(0, 5, pixels.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def cases(count: int) -> dict[str, list[bytes]]:
    digits = load_mnist().x_test
    rng = np.random.default_rng(0)
    pngs = []
    for d in digits[:count]:
        buffer = io.BytesIO()
        Image.fromarray(d, "L").save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return {
        "28x28 PNG": pngs,
        "1000x1000 JPEG": [phone_jpeg(d, (1000, 1000), rng) for d in digits[:4]],
        "4000x3000 JPEG": [phone_jpeg(d, (4000, 3000), rng) for d in digits[:4]],
    }


def timed(module: ModuleType, uploads: list[bytes]) -> tuple[float, float, float]:
    """Mean (total, decode, rest) in ms per upload."""
    total = decode = rest = 0.0
    for data in uploads:
        start = time.perf_counter()
        _, d, r = module.prepare_upload(data, 40_000_000)
        total += time.perf_counter() - start
        decode, rest = decode + d, rest + r
    n = len(uploads) / 1e3
    return total / n, decode / n, rest / n


def over_http(url: str, uploads: dict[str, list[bytes]], repeat: int) -> None:
    """Median and max ms of POST /predict/digit, one request at a time, for each case."""
    import httpx

    with httpx.Client(base_url=url, timeout=60.0) as client:
        client.get("/readyz").raise_for_status()
        for name, files in uploads.items():
            times = []
            for i in range(repeat):
                data = files[i % len(files)]
                start = time.perf_counter()
                response = client.post("/predict/digit", files={"file": ("photo.jpg", data)})
                times.append((time.perf_counter() - start) * 1e3)
                response.raise_for_status()
            print(
                f"HTTP {name:<16} median {np.median(times):6.1f} ms   max {max(times):6.1f} ms   "
                f"({repeat} requests)"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default=BEFORE, help="git revision to compare with")
    p.add_argument("--digits", type=int, default=500, help="28x28 PNGs per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--url", default=None, help="also time POST /predict/digit on a running service")
    a = p.parse_args(argv)
    versions = {"before": module_at(a.before), "now": preprocess}
    uploads = cases(a.digits)
    print(f"best of {a.rounds} alternating rounds; ms per upload (decode + the rest); before = {a.before}")
    for name, files in uploads.items():
        best = {v: (1e9, 0.0, 0.0) for v in versions}
        for _ in range(a.rounds):
            for version, module in versions.items():
                best[version] = min(best[version], timed(module, files))
        b, n = best["before"], best["now"]
        print(
            f"{name:<16} before {b[0]:7.3f} ({b[1]:.3f} + {b[2]:.3f})   "
            f"now {n[0]:7.3f} ({n[1]:.3f} + {n[2]:.3f})"
            f"   now/before {n[0] / b[0]:.2f}  [{len(files[0]) / 1e6:.2f} MB]"
        )
    if a.url:
        over_http(a.url, uploads, repeat=20)


if __name__ == "__main__":
    main()
