"""Run the service as a real uvicorn subprocess on a free port, for the soak and fuzz scripts and tests.

The server's output goes to a log file so that a caller can assert on what it logged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, interval: float = 0.2) -> None:
    """Poll `url` until it answers 200: RuntimeError if `proc` exits first, TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(interval)
    raise TimeoutError(f"{url} not 200 within {timeout} s")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (workers, the upload child processes), from /proc (Linux)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (one that ends meanwhile counts 0)."""
    total = 0
    for p in process_tree(pid):
        try:
            total += rss_bytes(p)
        except (OSError, RuntimeError):
            continue
    return total


class LiveServer:
    """`python -m app` (the container's command) on 127.0.0.1:<free port> with extra `PADDLE_SERVE_*`
    settings; `entry="uvicorn"` runs `python -m uvicorn app.main:app` instead."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        wrapper: list[str] | None = None,
        entry: str = "module",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        address = {"PADDLE_SERVE_HOST": "127.0.0.1", "PADDLE_SERVE_PORT": str(self.port)}
        self.env = {**os.environ, "GLOG_minloglevel": "2", **address, **(env or {})}
        self.entry = entry
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="paddle-serve-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.wrapper = wrapper or []  # a command prefix, e.g. setpriv dropping root's file capabilities
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_for: str = "/readyz", timeout: float = 90.0) -> LiveServer:
        """Start the process and wait until `wait_for` answers 200."""
        cmd = [sys.executable, "-m", "app"]
        if self.entry == "uvicorn":
            cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--no-access-log"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.wrapper + cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until_ready(self.proc, self.url + wait_for, timeout)
        except RuntimeError:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}") from None
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"{wait_for} not 200 within {timeout} s:\n{self.log()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def rss(self) -> int:
        """The server's resident memory in bytes, its child processes included."""
        return tree_rss_bytes(self.pid)

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM (uvicorn's graceful shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, SIGKILL if it hangs; return the exit code."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> LiveServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
