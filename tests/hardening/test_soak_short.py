"""The soak script in its CI form: 64 connections for 10 s against the shared live server (the one the
hostile-input and fuzz tests hit): zero 5xx, no dropped connection, RSS within 10% of after warm-up."""

from __future__ import annotations

import json
import subprocess
import sys

from scripts.live_server import REPO, LiveServer


def test_soak_short_run_is_clean(live_server: LiveServer) -> None:
    cmd = [sys.executable, "scripts/soak.py", "--url", live_server.url, "--pid", str(live_server.pid)]
    cmd += ["--duration", "10", "--warmup", "4", "--connections", "64"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    figures = json.loads(run.stdout[: run.stdout.rindex("}") + 1])
    assert figures["requests"] > 100, out
    assert figures["server_errors_5xx"] == 0 and figures["dropped_connections"] == 0, out
    assert figures["rss_mb"]["after_warmup"] > 0 and figures["rss_growth_pct"] <= 10.0, out
    kinds = {key.split()[0] for key in figures["statuses"]}
    assert {"price", "price_batch", "digit", "bad_image", "bad_json", "readyz"} <= kinds, out
    assert "Traceback" not in live_server.log()
