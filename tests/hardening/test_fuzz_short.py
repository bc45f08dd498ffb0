"""The schema fuzzer in its CI form: a few cases per route against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.live_server import REPO, LiveServer

TOKEN = "fuzz-token"  # a test value: the server's admin token and its one API token


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


@pytest.fixture(scope="module")
def token_server(fixture_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that needs TOKEN on its inference routes and turns the repository API on with it."""
    env = {"PADDLE_SERVE_MODELS_DIR": str(fixture_models_dir), "PADDLE_SERVE_PREPARE_PROCESSES": "0"}
    env |= {"PADDLE_SERVE_ADMIN_TOKEN": TOKEN, "PADDLE_SERVE_API_TOKENS": TOKEN}
    with LiveServer(env, log_path=tmp_path_factory.mktemp("token-server") / "server.log") as server:
        yield server


def fuzz(url: str, report_dir: Path, min_cases: int, *extra: str) -> dict[str, object]:
    cmd = [sys.executable, "scripts/fuzz.py", "--url", url, "--phases", "examples,fuzzing", *extra]
    cmd += ["--max-examples", "15", "--min-cases", str(min_cases), "--report-dir", str(report_dir)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    out = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    report: dict[str, object] = json.loads((report_dir / "report.json").read_text())
    return report


def test_fuzz_with_tokens_reaches_the_repository_and_inference_routes(
    token_server: LiveServer, tmp_path: Path
) -> None:
    """With the token, the fuzzer gets past the 401 to the repository API and the models; unload
    (after which the models' routes answer 503, as documented) is fuzzed last, on its own."""
    served = fuzz(
        token_server.url, tmp_path / "all", 100, "--token", TOKEN, "--exclude-path-regex", "unload$"
    )
    cases = served["test_cases"]
    assert isinstance(cases, dict) and cases["with_failures"] == 0
    metrics = httpx.get(f"{token_server.url}/metrics").text
    for route in ("/v2/repository/index", "/v2/repository/models/{name}/load", "/predict/price"):
        ok = [line for line in metrics.splitlines() if f'route="{route}"' in line and 'status="200"' in line]
        assert ok, f"no 200 from {route}: the token did not get the fuzzer through"
    unload = fuzz(
        token_server.url, tmp_path / "unload", 10, "--token", TOKEN, "--include-path-regex", "unload$"
    )
    assert isinstance(unload["test_cases"], dict) and unload["test_cases"]["with_failures"] == 0
    assert token_server.proc is not None and token_server.proc.poll() is None
    assert "Traceback" not in token_server.log()
