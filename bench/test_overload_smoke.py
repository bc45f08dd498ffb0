"""bench.overload end to end in quick mode: curve and rejection cost measured; speed is not asserted.

Run with `pytest bench/` (outside the default `tests/` path; about 20 s).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import overload


def test_overload_quick_measures_curve_and_rejection_cost(tmp_path: Path) -> None:
    out = tmp_path / "overload.json"
    argv = ["--steps", "32", "--duration", "1", "--warmup", "0", "--models-dir", str(tmp_path / "none")]
    assert overload.main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["models"].startswith("random-weight fixtures")
    assert [(r["route"], r["connections"]) for r in report["curve"]] == [("price", 32), ("digit", 32)]
    for row in report["curve"]:
        assert row["goodput_per_s"] > 0 and row["errors"] == 0 and row["other_status"] == {}
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["probes"] > 0 and row["probe_max_ms"] < float("inf")  # every probe answered 200
    for route in ("price", "digit"):
        cost = report["rejection"][route]
        assert cost["rejected_per_s"] > 0 and cost["other_status"] == {} and cost["errors"] == 0
        assert cost["cpu_ms_per_rejection"] > 0
    assert report["memory"]["after"]["total_mb"] > 50
