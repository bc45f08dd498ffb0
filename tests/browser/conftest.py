"""Fixtures for the browser tests: the real service in a uvicorn subprocess and Debian's headless Chromium.

Playwright's own browser download does not work here; the tests drive /usr/bin/chromium
(`apt-get install -y chromium`) and are skipped, with that reason, when it is missing.
The server serves the committed models (models/boston, models/mnist); BROWSER_TEST_MODELS_DIR
points it elsewhere while developing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.live_server import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "artifacts" / "screenshots"  # git-ignored (/artifacts/)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_S = 90.0
API_TOKEN = "page-test-token"  # a test value, not a secret


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium against the live service")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here `browser`; skip them all when Chromium is not installed."""
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found: install it with `apt-get install -y chromium`")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(skip)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    try:
        wait_until_ready(proc, f"{url}/readyz", READY_TIMEOUT_S, interval=0.25)
    except RuntimeError:
        raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}") from None
    except TimeoutError:
        health = httpx.get(f"{url}/health", timeout=5.0).text
        raise RuntimeError(
            f"server not ready after {READY_TIMEOUT_S} s: {health}\n{log.read_text()[-3000:]}"
        ) from None


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_SERVE_")}
    if os.environ.get("BROWSER_TEST_MODELS_DIR"):
        env["PADDLE_SERVE_MODELS_DIR"] = os.environ["BROWSER_TEST_MODELS_DIR"]
    return env | extra


def _serve(log: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """The real app (`app.main:app`) with the committed models, on a free port; killed at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=_server_env(extra_env)
        )
    try:
        _wait_ready(proc, url, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="package")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service as it starts by default: inference open."""
    yield from _serve(tmp_path_factory.mktemp("browser-server") / "server.log", {})


@pytest.fixture(scope="package")
def token_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with inference tokens (PADDLE_SERVE_API_TOKENS=API_TOKEN)."""
    log = tmp_path_factory.mktemp("browser-token-server") / "server.log"
    yield from _serve(log, {"PADDLE_SERVE_API_TOKENS": f"an-old-token,{API_TOKEN}"})


@pytest.fixture(scope="package")
def api(server_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client for the same server, to compare the page with the API."""
    with httpx.Client(base_url=server_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def desktop(browser: Any) -> Iterator[Any]:
    """A browser context at desktop size, shared by the tests (each gets its own page).

    Reduced motion turns the page's smooth scrolling off, so elements stay where they were measured.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture(scope="package")
def phone(browser: Any) -> Iterator[Any]:
    """A browser context at phone width (375 x 800), with touch."""
    context = browser.new_context(
        viewport={"width": 375, "height": 800}, has_touch=True, is_mobile=True, reduced_motion="reduce"
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _open_page(context: Any, server_url: str) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []  # uncaught exceptions in the page's JavaScript
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server_url}/")
    page.wait_for_selector("#f-LSTAT")  # the form is built from the model card
    yield page
    page.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(desktop: Any, server_url: str) -> Iterator[Any]:
    """A fresh page at desktop size, loaded and ready."""
    yield from _open_page(desktop, server_url)


@pytest.fixture
def phone_page(phone: Any, server_url: str) -> Iterator[Any]:
    """A fresh page at phone width, loaded and ready."""
    yield from _open_page(phone, server_url)


@pytest.fixture
def token_page(desktop: Any, token_server_url: str) -> Iterator[Any]:
    """A fresh page at desktop size on the server that needs an API token."""
    yield from _open_page(desktop, token_server_url)


@pytest.fixture
def screenshot() -> Any:
    """Save a full-page screenshot as artifacts/screenshots/<name>.png; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
