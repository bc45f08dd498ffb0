"""The soak script in its CI form: 64 connections for 10 s, zero 5xx, no dropped connection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.live_server import REPO


def test_soak_short_run_is_clean(fixture_models_dir: Path) -> None:
    cmd = [sys.executable, "scripts/soak.py", "--models-dir", str(fixture_models_dir)]
    cmd += ["--duration", "10", "--warmup", "4", "--connections", "64"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    figures = json.loads(run.stdout[: run.stdout.rindex("}") + 1])
    assert figures["requests"] > 100, out
    assert figures["server_errors_5xx"] == 0 and figures["dropped_connections"] == 0, out
    assert figures["rss_growth_pct"] <= 10.0, out
    kinds = {key.split()[0] for key in figures["statuses"]}
    assert {"price", "digit", "bad_image", "readyz"} <= kinds, out
