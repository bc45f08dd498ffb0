"""Quick-mode smoke test of `python -m bench.train_speed`: it runs end to end and reports sane numbers.

Speed is never asserted; only the report's shape and that every time is positive (a few seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench import train_speed
from training.augment import AugmentConfig


def test_naive_augment_keeps_shape_and_dtype() -> None:
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, 10:18, 12:16] = 255
    out = train_speed.naive_augment(images, AugmentConfig(), np.random.default_rng(0))
    assert out.shape == (4, 28, 28) and out.dtype == np.uint8
    assert out.max() > 0  # a warp within the configured ranges keeps the stroke in the frame


def test_train_speed_quick_writes_both_pipelines(tmp_path: Path) -> None:
    out = tmp_path / "train_speed.json"
    assert train_speed.main(["--quick", "--synthetic", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"machine", "settings", "results", "ratios"}
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["paddle_num_threads"] >= 1
    settings = report["settings"]
    assert settings["batch_size"] == 128 and settings["batches"] == 3 and settings["repeats"] == 2
    assert settings["data"] == "synthetic strokes"
    assert settings["steps_per_epoch"] == settings["train_digits"] // 128 > 0
    assert [r["pipeline"] for r in report["results"]] == ["before", "after"]
    for row in report["results"]:
        assert row["batches"] == 3
        for key in ("augment_ms", "step_ms", "measured_s", "per_batch_ms", "extrapolated_epoch_s"):
            assert row[key] > 0, key
    assert report["ratios"]["augment"] > 0 and report["ratios"]["epoch"] > 0
