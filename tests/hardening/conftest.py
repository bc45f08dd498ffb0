"""Fixtures for the hardening tests: fixture model folders and a live uvicorn server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.live_server import LiveServer
from tests.hardening.fixture_models import write_models


@pytest.fixture(scope="session")
def fixture_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid boston and mnist folders with tiny deterministic networks."""
    return write_models(tmp_path_factory.mktemp("hardening-models"))


@pytest.fixture(scope="session")
def live_server(fixture_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service in its own process (`python -m app`), serving the fixture models; ready when yielded.

    Shared by the hostile-input and fuzz tests: one process must survive them all."""
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    server = LiveServer({"PADDLE_SERVE_MODELS_DIR": str(fixture_models_dir)}, log_path=log)
    with server:
        yield server


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client bound to the live server."""
    with httpx.Client(base_url=live_server.url, timeout=30.0) as c:
        yield c
