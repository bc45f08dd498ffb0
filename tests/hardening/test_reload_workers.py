"""Several uvicorn workers: SIGHUP to a worker reloads that worker's models in place; SIGHUP to
`python -m app` (uvicorn's supervisor) replaces the workers one by one, each replacement serving
before the worker it replaces stops. Either way every worker serves the new files, and no
request fails meanwhile."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from scripts.live_server import LiveServer, process_tree
from scripts.reload_soak import folders, point
from tests.app.model_fixtures import ROW


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return folders(tmp_path_factory.mktemp("reload-workers"))


@pytest.fixture(scope="module")
def server(paths: dict[str, Path]) -> Iterator[LiveServer]:
    env = {
        "PADDLE_SERVE_MODELS_DIR": str(paths["served"]),
        "PADDLE_SERVE_WORKERS": "2",
        "PADDLE_SERVE_PREPARE_PROCESSES": "0",  # keep it light: no upload child per worker
        "PADDLE_SERVE_ACCESS_LOG": "false",
    }
    with LiveServer(env, log_path=paths["served"].parent / "server.log") as live:
        wait_for(lambda: live.log().count("Application startup complete") == 2, "both workers up")
        yield live


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"not within {timeout} s: {what}")


def workers(server: LiveServer) -> list[int]:
    """The worker processes: the supervisor's direct children started by multiprocessing."""
    return [pid for pid in process_tree(server.pid)[1:] if b"spawn_main" in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    """A process's command line; empty once it has exited (a replaced worker may go at any time)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def prices(server: LiveServer, n: int = 40) -> set[float]:
    """The price of ROW from `n` requests, each on a new connection (so both workers answer)."""
    seen = set()
    for _ in range(n):
        r = httpx.post(f"{server.url}/predict/price", json=ROW, headers={"Connection": "close"})
        r.raise_for_status()
        seen.add(r.json()["price"])
    return seen


class Traffic:
    """Requests on new connections in a thread, counting any that do not answer 200."""

    def __init__(self, server: LiveServer) -> None:
        self.url, self.stop, self.count, self.failures = server.url, threading.Event(), 0, []
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                r = httpx.post(f"{self.url}/predict/price", json=ROW, timeout=30.0)
                self.failures += [] if r.status_code == 200 else [r.status_code]
            except httpx.HTTPError as exc:
                self.failures.append(type(exc).__name__)
            self.count += 1

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_sighup_to_each_worker_reloads_it(server: LiveServer, paths: dict[str, Path]) -> None:
    before = prices(server)
    assert len(before) == 1
    pids = workers(server)
    assert len(pids) == 2
    point(paths["served"], "boston", paths["b"] / "boston")
    reloaded = server.log().count("model boston reloaded")
    with Traffic(server) as traffic:
        for pid in pids:
            os.kill(pid, signal.SIGHUP)
        wait_for(lambda: server.log().count("model boston reloaded") == reloaded + 2, "two reloads")
    after = prices(server)
    assert len(after) == 1 and after != before  # both workers answer with the new files
    assert traffic.count > 0 and traffic.failures == []
    assert workers(server) == pids  # reloaded in place, not restarted


def test_sighup_to_the_supervisor_replaces_the_workers_one_by_one(
    server: LiveServer, paths: dict[str, Path]
) -> None:
    point(paths["served"], "boston", paths["a"] / "boston")
    before, pids = prices(server), workers(server)
    with Traffic(server) as traffic:
        os.kill(server.pid, signal.SIGHUP)
        wait_for(lambda: not set(workers(server)) & set(pids), "both workers replaced", 120.0)
        wait_for(lambda: len(workers(server)) == 2, "two workers again")
    after = prices(server)
    assert len(after) == 1 and after != before
    assert traffic.count > 0 and traffic.failures == []
