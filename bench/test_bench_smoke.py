"""Quick-mode smoke tests: the benchmarks run end to end and report sane numbers; speed is not asserted.

Run with `pytest bench/` (outside the default `tests/` path; about 40 s).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import backends, bench
from bench.loadgen import BOUNDARY, multipart


def test_multipart_body_holds_the_file_once() -> None:
    body, content_type = multipart("file", "d.png", b"\x89PNG-bytes", "image/png")
    assert content_type == f"multipart/form-data; boundary={BOUNDARY}"
    assert body.count(b"\x89PNG-bytes") == 1
    assert body.startswith(f"--{BOUNDARY}\r\n".encode()) and body.endswith(f"--{BOUNDARY}--\r\n".encode())
    assert b'name="file"; filename="d.png"' in body


def test_backends_quick_checks_every_path(tmp_path: Path) -> None:
    out = tmp_path / "backends.json"
    assert backends.main(["--quick", "--batches", "1", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    names = {(r["network"], r["backend"]) for r in rows}
    assert ("price", "numpy") in names and ("digit", "predictor onednn=on t=1") in names
    for r in rows:
        assert r["calls"] >= 5 and r["median_ms"] > 0
        if r["backend"] == "dygraph":
            assert r["max_abs_diff"] == 0.0
    served = [r for r in rows if r["network"] == "digit" and r["backend"] == "predictor onednn=on t=1"]
    assert [r["batch"] for r in served] == [1, 2] and all(r["correct"] for r in served)


def test_http_bench_quick_runs_every_case(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "--quick",
        "--servers",
        "service,baseline",
        "--models-dir",
        str(tmp_path / "none"),
        "--out",
        str(out),
    ]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["models"].startswith("random-weight fixtures")
    assert set(report["results"]) == {"service", "baseline"}
    for result in report["results"].values():
        assert result["ready_s"] > 0 and result["memory_idle"]["total_mb"] > 50
        assert set(result["cases"]) == {"livez", "price", "digit"}
        for case in result["cases"].values():
            assert case["requests"] > 0 and case["errors"] == 0
            assert 0 < case["p50_ms"] <= case["p90_ms"] <= case["p99_ms"]
    assert "service digit / baseline digit" in report["ratios"]


def test_tight_crops_fill_the_frame() -> None:
    import io

    import numpy as np
    from PIL import Image

    from bench import tight

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:17] = 255  # a 1: 20 rows, 5 columns of ink
    made = list(tight.uploads(np.stack([digit] * 4), np.ones(4, np.int64), 3, seed=0))
    assert [(paper, label) for paper, label, _ in made] == [("even", 1), ("light", 1), ("grain", 1)]
    for i, (_, _, data) in enumerate(made):
        grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
        assert grey.shape == ((300, 400), (400, 300))[i % 2]  # (H, W), alternately
        inked = np.flatnonzero((grey < 100).any(axis=1))
        assert 0.85 * grey.shape[0] - 2 <= inked[-1] - inked[0] + 1 <= grey.shape[0]
