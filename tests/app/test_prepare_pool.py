"""Uploads prepared in child processes: same answers as in-process, faults contained, limits kept."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.errors import Overloaded
from app.predictors.preprocess import DecodeError, NoInkError, prepare_upload
from app.prepare_pool import PoolUnavailable, PreparePool
from tests.app.conftest import drawn_digit_png, make_client

LIMIT = 40_000_000
MISBEHAVING = "tests.app.misbehaving_worker"


def uploads() -> list[bytes]:
    return [
        drawn_digit_png(size=s, offset=(s // 10, s // 8), fmt=f) for s, f in [(28 * 4, "PNG"), (300, "JPEG")]
    ]


async def with_pool(body: Any, **kw: Any) -> Any:
    settings: dict[str, Any] = {"max_batch": 8, "queue_limit": 64, "timeout_s": 10.0, "module": MISBEHAVING}
    pool = PreparePool(1, LIMIT, **{**settings, **kw})
    await pool.start()
    assert pool.available
    try:
        return await body(pool)
    finally:
        await pool.stop()


def test_outcomes_equal_in_process_preparation_and_errors_keep_their_class() -> None:
    files = [*uploads(), b"", b"\x89PNG\r\n\x1a\n broken", drawn_digit_png(size=64)[:0] + blank_png()]

    async def body(pool: PreparePool) -> list[Any]:
        return list(await asyncio.gather(*(pool.prepare([f]) for f in files)))

    results = [r[0] for r in asyncio.run(with_pool(body))]
    for data, result in zip(files[:2], results[:2], strict=True):
        np.testing.assert_array_equal(result, prepare_upload(data, LIMIT)[0])
    assert [type(r) for r in results[2:]] == [DecodeError, DecodeError, NoInkError]
    assert results[2].message == "the uploaded file is empty"


def blank_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (40, 40), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_request_that_kills_the_child_is_refused_and_the_others_are_answered() -> None:
    good = uploads()[0]

    async def body(pool: PreparePool) -> tuple[list[Any], int, int]:
        first = pool._children[0].process.pid
        results = await asyncio.gather(
            pool.prepare([good]), pool.prepare([b"crash"]), pool.prepare([good, good]), return_exceptions=True
        )
        again = await pool.prepare([good])  # the replacement child serves
        assert isinstance(again[0], np.ndarray)
        return list(results), first, pool._children[0].process.pid

    results, first, second = asyncio.run(with_pool(body))
    assert first != second
    assert isinstance(results[1], DecodeError) and "stopped the decoder" in results[1].message
    expected = prepare_upload(good, LIMIT)[0]
    for r in (results[0][0], *results[2]):
        np.testing.assert_array_equal(r, expected)


def test_a_full_queue_and_a_passed_deadline_are_overloaded() -> None:
    async def body(pool: PreparePool) -> list[Any]:
        slow = asyncio.gather(pool.prepare([b"slow"]), return_exceptions=True)  # the only child, 2 s
        await asyncio.sleep(0.05)
        late = await asyncio.gather(pool.prepare([b"x"]), return_exceptions=True)  # waits > 0.5 s
        full = await asyncio.gather(pool.prepare([b"x"] * 3), return_exceptions=True)  # 1 + 3 > 3
        await slow
        return [late[0], full[0]]

    late, full = asyncio.run(with_pool(body, timeout_s=0.5, queue_limit=3))
    assert isinstance(late, Overloaded) and "within 0.5 s" in late.message
    assert isinstance(full, Overloaded) and "queue is full" in full.message
    assert late.headers == {"Retry-After": "1"}


def test_a_pool_whose_child_cannot_start_is_unavailable() -> None:
    async def body() -> bool:
        pool = PreparePool(1, LIMIT, 8, 64, 10.0, module="tests.app.no_such_module")
        await pool.start()
        try:
            with pytest.raises(PoolUnavailable):
                await pool.prepare([b"x"])
        finally:
            await pool.stop()
        return pool.available

    assert asyncio.run(body()) is False


@pytest.fixture(scope="module")
def pooled(models_dir: Path) -> Iterator[TestClient]:
    with make_client(models_dir, prepare_processes=1) as c:
        assert c.app.state.service.pool is not None  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def inline(models_dir: Path) -> Iterator[TestClient]:
    with make_client(models_dir, prepare_processes=0) as c:
        yield c


def answers(client: TestClient, files: list[bytes]) -> tuple[int, Any]:
    r = client.post(
        "/predict/digit/batch?debug=true", files=[("files", (f"{i}", f)) for i, f in enumerate(files)]
    )
    return r.status_code, r.json() if r.status_code == 200 else r.json()["error"]


def test_the_service_answers_the_same_with_and_without_the_pool(
    pooled: TestClient, inline: TestClient
) -> None:
    for files in [uploads(), [uploads()[0], b"not an image"], [uploads()[1], blank_png()]]:
        assert answers(pooled, files) == answers(inline, files)
    assert answers(pooled, [uploads()[0], b""])[1]["message"].startswith("files[1]: ")


def test_the_service_survives_a_killed_child(pooled: TestClient) -> None:
    pool = pooled.app.state.service.pool  # type: ignore[attr-defined]
    os.kill(pool._children[0].process.pid, signal.SIGKILL)
    status, body = answers(pooled, uploads())
    assert status == 200 and len(body["predictions"]) == 2
    metrics = pooled.get("/metrics").text
    assert 'inference_stage_duration_seconds_count{model="mnist",stage="preprocess"}' in metrics


def test_a_client_error_in_the_child_is_the_same_client_error(pooled: TestClient) -> None:
    r = pooled.post("/predict/digit", files={"file": ("x.txt", b"plain text", "text/plain")})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
