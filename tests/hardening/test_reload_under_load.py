"""Reload under load (scripts/reload_soak.py): 32 connections for 20 s while both models are
reloaded at least 10 times each, between two model sets, with broken loads among them."""

from __future__ import annotations

import json
import subprocess
import sys

from scripts.live_server import REPO


def test_reloads_under_load_drop_nothing_and_never_mix_versions() -> None:
    cmd = [sys.executable, "scripts/reload_soak.py", "--duration", "20", "--reloads", "10"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    report = json.loads(run.stdout[: run.stdout.rindex("}") + 1])
    assert report["passed"] and report["statuses"] == {"200": report["requests"]}, out
    assert report["requests"] > 500 and not report["connection_errors"], out
    assert min(report["reloads"]["boston"], report["reloads"]["mnist"]) >= 10, out
