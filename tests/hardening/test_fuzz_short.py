"""The schema fuzzer in its CI form: a few cases per route against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.live_server import REPO, LiveServer


def test_fuzz_short_run_is_clean(live_server: LiveServer, tmp_path: Path) -> None:
    cmd = [sys.executable, "scripts/fuzz.py", "--url", live_server.url, "--phases", "examples,fuzzing"]
    cmd += ["--max-examples", "25", "--min-cases", "100", "--report-dir", str(tmp_path)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["test_cases"]["generated"] >= 40, out
    assert report["test_cases"]["with_failures"] == 0, out
    assert report["operations"]["tested"] == report["operations"]["total"] >= 10, out  # every route
    assert live_server.proc is not None and live_server.proc.poll() is None
    assert "Traceback" not in live_server.log()
