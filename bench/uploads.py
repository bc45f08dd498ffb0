"""The upload benchmark: MNIST test digits rendered as photos, scans and drawings, read over HTTP.

Seeded; every image is generated from the MNIST *test* digits (`training.photos.upload_set`), in
named effect classes, and nothing is written to disk. Prints accuracy and expected calibration
error per class and overall.

    python -m app &                                   # or scripts/serve.sh
    python -m bench.uploads --url http://127.0.0.1:8000 [--per-class 250] [--seed 0]
    python -m bench.uploads --local models/mnist      # in-process, no server (same preprocessing)

`--split val` renders validation digits instead: for tuning the preprocessing without
looking at the test digits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from training.datasets import load_mnist
from training.evaluate import Upload, report
from training.photos import upload_set


async def post_all(url: str, uploads: list[Upload], concurrency: int) -> list[list[float] | None]:
    """POST each upload to /predict/digit; its probabilities, or None for a non-200 answer."""
    import httpx

    answers: list[list[float] | None] = [None] * len(uploads)
    queue = iter(range(len(uploads)))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as client:
        (await client.get("/readyz")).raise_for_status()

        async def worker() -> None:
            for i in queue:
                response = await client.post("/predict/digit", files={"file": ("upload", uploads[i][2])})
                if response.status_code == 200:
                    answers[i] = response.json()["probabilities"]
                else:
                    print(
                        f"{uploads[i][0]} #{i}: {response.status_code} {response.text[:160]}", file=sys.stderr
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def classify_local(folder: Path, uploads: list[Upload]) -> list[list[float] | None]:
    """The same answers in-process: the service's preprocessing and the folder's network (Paddle)."""
    from models.artifacts import load_model
    from training.evaluate import predict_uploads

    loaded = load_model(folder)
    return predict_uploads(loaded.network, loaded.temperature, [data for _, _, data in uploads])


def print_table(results: dict[str, dict[str, float]]) -> None:
    print(f"{'class':<18}{'n':>6}{'accuracy':>10}{'ECE':>8}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<18}{r['n']:>6}{r['accuracy']:>10.4f}{r['ece']:>8.4f}{r['errors']:>8}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--local", type=Path, default=None, help="model folder to run in-process instead of HTTP")
    p.add_argument("--per-class", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--data-dir", type=Path, default=None, help="local MNIST copy (see training)")
    a = p.parse_args(argv)
    mnist = load_mnist(a.data_dir)
    digits, labels = (mnist.x_test, mnist.y_test) if a.split == "test" else (mnist.x_val, mnist.y_val)
    start = time.perf_counter()
    uploads = upload_set(digits, labels, a.per_class, a.seed)
    generated = time.perf_counter() - start
    if a.local is not None:
        answers = classify_local(a.local, uploads)
    else:
        answers = asyncio.run(post_all(a.url, uploads, a.concurrency))
    print(
        f"{len(uploads)} uploads from MNIST {a.split} digits (seed {a.seed}): "
        f"generated in {generated:.0f} s, "
        f"classified in {time.perf_counter() - start - generated:.0f} s via {a.local or a.url}"
    )
    results = report(uploads, answers)
    print_table(results)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
