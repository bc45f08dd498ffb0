"""Start a server as a subprocess on a free port, time it to ready, measure its memory, stop it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.live_server import process_tree, rss_bytes, wait_until_ready

REPO = Path(__file__).resolve().parent.parent
logging.getLogger("httpx").setLevel(logging.WARNING)  # some imports turn INFO logs on globally


def uvicorn_argv(target: str, port: int, workers: int = 1) -> list[str]:
    """uvicorn with uvloop and httptools, no access log, `workers` processes."""
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return argv + (["--workers", str(workers)] if workers > 1 else [])


@dataclass
class Server:
    """One server under test: how to start it and which path says it is ready."""

    name: str
    argv: list[str]
    port: int
    ready_path: str = "/readyz"
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    root: Path = REPO  # the checkout it runs from (bench.bench compares commits with service@PATH)
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Server:
        """Start the process (own session, so stop() reaches its workers) and wait for ready."""
        env = {**os.environ, "GLOG_minloglevel": "2", "PYTHONPATH": str(self.root), **self.env}
        log = self.log_path.open("wb") if self.log_path else subprocess.DEVNULL
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_ready(self.proc, self.url + self.ready_path, timeout, interval=0.05)
        except RuntimeError:
            code = self.proc.returncode
            raise RuntimeError(f"{self.name} exited with {code}; log {self.log_path}") from None
        except TimeoutError:
            self.stop()
            raise TimeoutError(
                f"{self.name}: {self.ready_path} not 200 within {timeout} s; log {self.log_path}"
            ) from None
        self.ready_s = round(time.perf_counter() - t0, 2)
        return self

    def memory(self) -> dict[str, object]:
        """Resident memory of every process of the server, in MB."""
        assert self.proc is not None
        per_process = {pid: round(_rss_mb(pid), 1) for pid in process_tree(self.proc.pid)}
        return {"total_mb": round(sum(per_process.values()), 1), "per_process_mb": list(per_process.values())}

    def stop(self) -> None:
        """SIGTERM the server's process group (only the processes this object started), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _rss_mb(pid: int) -> float:
    """A process's resident memory in MB; 0 for one that ended meanwhile."""
    try:
        return rss_bytes(pid) / 2**20
    except (OSError, RuntimeError):
        return 0.0
