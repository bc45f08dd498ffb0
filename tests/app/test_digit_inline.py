"""With no upload child process, small pictures are prepared on the event loop, large ones in a thread."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.pipelines import runners
from app.pipelines.runners import InProcessRunner
from tests.app.conftest import drawn_digit_png, make_client


def png(width: int, height: int) -> bytes:
    image = Image.new("L", (width, height), 255)
    image.paste(0, (width // 3, height // 4, width // 3 + max(2, width // 8), 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_pixels_reads_sizes_from_headers() -> None:
    assert runners.header_pixels([png(28, 28)]) == 784
    assert runners.header_pixels([png(28, 28), png(100, 50)]) == 784 + 5000
    assert runners.header_pixels([b"not an image", b""]) == 0


@pytest.fixture(scope="module")
def inline(models_dir: Path) -> Iterator[TestClient]:
    with make_client(models_dir, prepare_processes=0) as c:
        assert isinstance(c.app.state.service.digit.runner, InProcessRunner)  # type: ignore[attr-defined]
        yield c


@pytest.fixture()
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = runners.asyncio.to_thread

    async def recording(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__name__", "?"))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(runners.asyncio, "to_thread", recording)
    return calls


def post(client: TestClient, data: bytes) -> dict[str, Any]:
    r = client.post("/predict/digit", files={"file": ("d.png", data, "image/png")})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_small_picture_is_prepared_inline(inline: TestClient, thread_calls: list[str]) -> None:
    post(inline, png(28, 28))
    assert "prepare_all" not in thread_calls


def test_large_picture_is_prepared_in_a_thread(inline: TestClient, thread_calls: list[str]) -> None:
    post(inline, drawn_digit_png(size=300))
    assert thread_calls.count("prepare_all") == 1


def test_inline_and_threaded_answers_agree(inline: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    data = drawn_digit_png(size=120)  # 14,400 px: under the inline limit
    on_loop = post(inline, data)
    monkeypatch.setattr(runners, "INLINE_PIXELS", 0)
    threaded = post(inline, data)
    assert on_loop["probabilities"] == threaded["probabilities"]
