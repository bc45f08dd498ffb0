"""The micro-batcher: batches form, answers equal single runs, a full queue or a passed deadline is 503."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.batching import MicroBatcher
from app.errors import Overloaded
from app.main import create_app
from app.settings import Settings
from tests.app.conftest import drawn_digit_png
from tests.app.model_fixtures import ROW


class FakeNetwork:
    """logits = per-image sums, so answers are checkable; records batch sizes and the threads used."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.batches, self.threads = delay, [], set()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(len(x))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        return np.repeat(x.reshape(len(x), -1).sum(axis=1, keepdims=True), 10, axis=1).astype(np.float32)


def image(value: float) -> np.ndarray:
    return np.full((1, 1, 28, 28), value, np.float32)


async def run_batcher(network: FakeNetwork, jobs: list[np.ndarray], **kw: Any) -> list[Any]:
    settings = {"max_size": 8, "max_wait_s": 0.05, "queue_limit": 100, "timeout_s": 5.0, **kw}
    batcher = MicroBatcher(network, **settings)
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(j) for j in jobs), return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_jobs_share_batches_on_one_thread_with_their_own_answers() -> None:
    network = FakeNetwork(delay=0.01)
    jobs = [image(i) for i in range(20)] + [np.concatenate([image(100), image(200)])]
    results = asyncio.run(run_batcher(network, jobs))
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result[:, 0], job.reshape(len(job), -1).sum(axis=1))
    assert sum(network.batches) == 22 and max(network.batches) > 1 and max(network.batches) <= 9
    assert len(network.threads) == 1 and threading.get_ident() not in network.threads


def test_a_stopped_batcher_is_freed_without_the_cycle_collector() -> None:
    """The service collects full cycles all but never (`app.main.GC_THRESHOLDS`): a replaced digit
    pipeline's batcher, which holds its network, must go as soon as the last reference does."""

    async def started_and_stopped() -> weakref.ref[MicroBatcher]:
        batcher = MicroBatcher(FakeNetwork(), max_size=8, max_wait_s=0.01, queue_limit=10, timeout_s=5.0)
        batcher.start()
        await batcher.submit(image(1))
        await batcher.stop()
        return weakref.ref(batcher)

    gc.disable()
    try:
        gone = asyncio.run(started_and_stopped())
        assert gone() is None
    finally:
        gc.enable()


def test_a_full_queue_is_overloaded_with_retry_after() -> None:
    network = FakeNetwork(delay=0.2)
    results = asyncio.run(run_batcher(network, [image(i) for i in range(10)], queue_limit=4, max_size=1))
    rejected = [r for r in results if isinstance(r, Overloaded)]
    assert len(rejected) == 6 and all(isinstance(r, np.ndarray) for r in results[:4])
    assert "queue is full" in rejected[0].message and rejected[0].headers == {"Retry-After": "5"}


def test_a_passed_deadline_is_overloaded_and_skipped() -> None:
    network = FakeNetwork(delay=0.3)
    results = asyncio.run(run_batcher(network, [image(i) for i in range(4)], max_size=1, timeout_s=0.5))
    late = [r for r in results if isinstance(r, Overloaded)]
    assert len(late) >= 2 and "did not finish within 0.5 s" in late[0].message
    assert late[0].headers == {"Retry-After": "1"}
    assert len(network.batches) < 4  # jobs already past their deadline never reach the network


@asynccontextmanager
async def serving(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app with its lifespan running, the real digit backend slowed by `delay` per batch."""
    import app.inference as inference

    real = inference.create_digit_backend

    class Slow:
        def __init__(self, backend: Any) -> None:
            self.backend = backend

        def predict_logits(self, x: np.ndarray) -> np.ndarray:
            time.sleep(delay)
            return self.backend.predict_logits(x)

    def slowed(backend: Any, serving: dict[str, Any]) -> tuple[Slow, dict[str, Any]]:
        return Slow(backend), serving

    monkeypatch.setattr(
        inference, "create_digit_backend", lambda loaded, threads: slowed(*real(loaded, threads))
    )
    application = create_app(Settings(models_dir=models_dir, **settings))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, application


def digit_request(data: bytes) -> dict[str, Any]:
    return {"url": "/predict/digit", "files": {"file": ("d.png", data, "image/png")}}


def test_overload_over_http_is_503_with_retry_after(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> list[httpx.Response]:
        async with serving(
            models_dir,
            monkeypatch,
            delay=0.3,
            queue_limit=3,
            batch_max_size=1,
            inference_timeout_s=0.8,
            digit_in_flight=64,  # admission (app/admission.py) lets all 8 in: this is the batcher's queue
            queue_deadline_s=5.0,
        ) as (client, _):
            data = drawn_digit_png()
            responses = await asyncio.gather(*(client.post(**digit_request(data)) for _ in range(8)))
            assert (await client.get("/readyz")).status_code == 200  # still ready afterwards
            metrics = (await client.get("/metrics")).text
            assert 'inference_rejected_total{reason="queue_full"}' in metrics
            assert "\ninference_queue_depth " in metrics
            return list(responses)

    responses = asyncio.run(scenario())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 5 and set(statuses) <= {200, 503}
    for r in responses:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "overloaded" and r.headers["retry-after"] == "1"


def mixed_requests() -> list[dict[str, Any]]:
    """64 requests: single and batch digits, prices with explanations, truncated uploads, bad prices."""
    images = [drawn_digit_png(size=120 + 7 * i, offset=(5 + 3 * i, 10 + 2 * i)) for i in range(8)]
    kinds: list[dict[str, Any]] = []
    for i in range(64):
        kind = i % 8
        if kind < 4:
            kinds.append(digit_request(images[i % 8]))
        elif kind == 4:
            kinds.append({"url": "/predict/price?explain=true", "json": {**ROW, "RM": 4 + i / 16}})
        elif kind == 5:
            kinds.append(
                {
                    "url": "/predict/digit/batch",
                    "files": [("files", (f"{j}.png", images[(i + j) % 8])) for j in range(3)],
                }
            )
        elif kind == 6:
            kinds.append(digit_request(images[i % 8][: 200 + i]))  # truncated: fails alone
        else:
            kinds.append({"url": "/predict/price", "json": {**ROW, "CRIM": -i}})
    return kinds


def test_64_concurrent_mixed_requests_equal_the_same_requests_alone(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds = mixed_requests()

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with serving(models_dir, monkeypatch, delay=0.002, batch_max_wait_ms=5) as (
            client,
            application,
        ):
            registry = application.state.service.metrics.registry
            calls = registry.get_sample_value("inference_batch_size_count")
            together = await asyncio.gather(*(client.post(**k) for k in kinds))
            images_run = registry.get_sample_value("inference_batch_size_sum") - 1  # minus the warm-up
            assert registry.get_sample_value("inference_batch_size_count") - calls < images_run  # batched
            alone = [await client.post(**k) for k in kinds]
            return list(together), alone

    together, alone = asyncio.run(scenario())
    for i, (a, b) in enumerate(zip(together, alone, strict=True)):
        assert a.status_code == b.status_code, (i, a.text, b.text)
        if a.status_code == 200:
            assert a.json() == b.json() if "price" in a.json() else same_digits(a, b)
        else:
            assert a.json()["error"]["message"] == b.json()["error"]["message"]
    assert sorted({r.status_code for r in together}) == [200, 422]


def same_digits(a: httpx.Response, b: httpx.Response) -> bool:
    first, second = a.json(), b.json()
    answers = first.get("predictions", [first]), second.get("predictions", [second])
    for x, y in zip(*answers, strict=True):
        assert x["digit"] == y["digit"] and x["top"][0]["digit"] == y["top"][0]["digit"]
        np.testing.assert_allclose(x["probabilities"], y["probabilities"], atol=1e-6)
    return True
