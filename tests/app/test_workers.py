"""Uploads prepared (and the network run) in child processes: same answers as in-process, faults contained."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from app.errors import InvalidInput, Overloaded, ServiceError
from app.inference import OnnxRuntimeBackend, probe_batch
from app.predictors.preprocess import DecodeError, NoInkError, prepare_upload
from app.workers import ChildPool, Network, PoolUnavailable
from models.features import scale_pixels
from tests.app.conftest import drawn_digit_png, make_client

LIMIT = 40_000_000
MISBEHAVING = "tests.app.misbehaving_worker"


def uploads() -> list[bytes]:
    shapes = [(28 * 4, "PNG"), (300, "JPEG")]
    return [drawn_digit_png(size=s, offset=(s // 10, s // 8), fmt=f) for s, f in shapes]


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 40), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def linear_onnx() -> bytes:
    """A small ONNX network of the digit network's shape: (N, 1, 28, 28) -> (N, 10), seeded weights."""
    weights = np.random.default_rng(1).normal(size=(784, 10)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 10])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString()) if onnx.checker.check_model(model) is None else b""


def same_error(error: Any, expected: ServiceError) -> bool:
    """The error as the client sees it: status, code, message, details, headers (not its class)."""
    assert isinstance(error, ServiceError), error
    parts = ("status", "code", "message", "details", "headers")
    assert [getattr(error, p) for p in parts] == [getattr(expected, p) for p in parts]
    return True


def child_pid(pool: ChildPool) -> int:
    (lane,) = pool._dispatcher.lanes
    return lane.child.pid


def network(shift: float = 0.0) -> Network:
    model, probe = linear_onnx(), probe_batch()
    return Network(model, 1, probe, OnnxRuntimeBackend(model).predict_logits(probe) + np.float32(shift))


async def with_pool(body: Any, net: Network | None = None, **kw: Any) -> Any:
    settings: dict[str, Any] = {"max_batch": 8, "queue_limit": 64, "timeout_s": 10.0, "module": MISBEHAVING}
    pool = ChildPool(1, LIMIT, **{**settings, **kw})
    await pool.start(net)
    assert pool.available
    try:
        result = await body(pool)
        assert pool.pending == 0  # every job's images given back, once
        return result
    finally:
        await pool.stop()


def test_outcomes_equal_in_process_preparation_and_errors_arrive_intact() -> None:
    files = [*uploads(), b"", b"\x89PNG\r\n\x1a\n broken", blank_png()]

    async def body(pool: ChildPool) -> list[Any]:
        return list(await asyncio.gather(*(pool.prepare([f]) for f in files)))

    results = asyncio.run(with_pool(body))
    assert all(logits is None for _, logits in results)  # no network given: the server runs it
    outcomes = [outcome for (outcome,), _ in results]
    for data, result in zip(files[:2], outcomes[:2], strict=True):
        np.testing.assert_array_equal(result, prepare_upload(data, LIMIT)[0])
    for data, result in zip(files[2:], outcomes[2:], strict=True):
        with pytest.raises((DecodeError, NoInkError)) as raised:
            prepare_upload(data, LIMIT)
        assert same_error(result, raised.value)
    assert [r.code for r in outcomes[2:]] == ["corrupt_image", "corrupt_image", "no_ink"]
    assert outcomes[2].message == "the uploaded file is empty"


def test_with_the_network_the_child_returns_the_logits_the_server_would_compute() -> None:
    net = network()
    files = uploads()

    async def body(pool: ChildPool) -> list[Any]:
        assert pool.network is net
        return list(
            await asyncio.gather(pool.prepare(files), pool.prepare([files[0], b""]), pool.prepare([files[1]]))
        )

    (both, both_logits), (mixed, mixed_logits), (_, one_logits) = asyncio.run(with_pool(body, net))
    pixels = np.stack([prepare_upload(f, LIMIT)[0] for f in files])
    expected = OnnxRuntimeBackend(net.onnx_model).predict_logits(scale_pixels(pixels))
    assert np.array_equal(both_logits, expected) and np.array_equal(one_logits, expected[1:])
    np.testing.assert_array_equal(both[1], pixels[1])
    assert mixed_logits is None and same_error(mixed[1], DecodeError("the uploaded file is empty"))


def test_a_network_whose_probe_answers_differ_is_not_used_by_the_children() -> None:
    async def body(pool: ChildPool) -> Any:
        assert pool.network is None
        return await pool.prepare(uploads())

    outcomes, logits = asyncio.run(with_pool(body, network(shift=1e-3)))
    assert logits is None and all(isinstance(o, np.ndarray) for o in outcomes)


def test_a_request_that_kills_the_child_is_refused_and_the_others_are_answered() -> None:
    good = uploads()[0]
    net = network()

    async def body(pool: ChildPool) -> tuple[list[Any], int, int, Any]:
        first = child_pid(pool)
        results = await asyncio.gather(
            pool.prepare([good]), pool.prepare([b"crash"]), pool.prepare([good, good]), return_exceptions=True
        )
        again = await pool.prepare([good])  # the replacement child serves, with the network
        assert pool.network is net
        return list(results), first, child_pid(pool), again

    results, first, second, again = asyncio.run(with_pool(body, net))
    assert first != second
    refused = DecodeError("the image could not be decoded: it stopped the decoder process")
    assert same_error(results[1], refused)
    pixels = prepare_upload(good, LIMIT)[0]
    expected = OnnxRuntimeBackend(net.onnx_model).predict_logits(scale_pixels(pixels[None]))
    for outcomes, logits in (results[0], results[2], again):
        assert all(np.array_equal(o, pixels) for o in outcomes)
        assert np.array_equal(logits, np.repeat(expected, len(outcomes), axis=0))


def test_a_full_queue_and_a_passed_deadline_are_overloaded() -> None:
    async def body(pool: ChildPool) -> list[Any]:
        slow = asyncio.gather(pool.prepare([b"slow"]), return_exceptions=True)  # the only child, 2 s
        await asyncio.sleep(0.05)
        late = await asyncio.gather(pool.prepare([b"x"]), return_exceptions=True)  # waits > 0.5 s
        full = await asyncio.gather(pool.prepare([b"x"] * 3), return_exceptions=True)  # 1 + 3 > 3
        assert isinstance((await slow)[0], Overloaded)
        assert pool.pending == 2  # both past their deadline but still on the child: their room is taken
        while pool.pending:  # until the child hands them back (~2 s)
            await asyncio.sleep(0.05)
        return [late[0], full[0]]

    late, full = asyncio.run(with_pool(body, timeout_s=0.5, queue_limit=3))
    assert isinstance(late, Overloaded) and "within 0.5 s" in late.message
    assert isinstance(full, Overloaded) and "queue is full" in full.message
    assert late.headers == {"Retry-After": "1"}


def test_a_service_error_with_details_and_headers_crosses_intact_known_class_or_not() -> None:
    async def body(pool: ChildPool) -> list[Any]:
        return [outcome for (outcome,), _ in [await pool.prepare([f]) for f in (b"detailed", b"unknown")]]

    detailed, unknown = asyncio.run(with_pool(body))
    expected = InvalidInput("bad stroke", [{"loc": ["files", 0], "msg": "too thin"}], {"X-Hint": "ink"})
    assert same_error(detailed, expected) and detailed.status == 422
    assert (unknown.status, unknown.code, unknown.message) == (418, "teapot", "short and stout")
    assert unknown.details == [{"spout": 1}] and unknown.headers == {"Retry-After": "7"}


def test_a_bug_in_the_child_is_a_generic_500_logged_with_the_childs_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body(pool: ChildPool) -> Any:
        return await pool.prepare([b"bug", uploads()[0]])

    (bug, pixels), logits = asyncio.run(with_pool(body))
    assert (bug.status, bug.code, bug.details, bug.headers) == (500, "internal_error", None, None)
    assert "division" not in bug.message and isinstance(pixels, np.ndarray) and logits is None
    assert "ZeroDivisionError: division by zero in the decoder" in caplog.text


def test_a_pool_whose_child_cannot_start_is_unavailable() -> None:
    async def body() -> bool:
        pool = ChildPool(1, LIMIT, 8, 64, 10.0, module="tests.app.no_such_module")
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
        assert c.app.state.service.digit.runner.pool.network is not None  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def inline(models_dir: Path) -> Iterator[TestClient]:
    with make_client(models_dir, prepare_processes=0) as c:
        yield c


def answers(client: TestClient, files: list[bytes]) -> tuple[int, Any]:
    parts = [("files", (f"{i}", f)) for i, f in enumerate(files)]
    r = client.post("/predict/digit/batch?debug=true", files=parts)
    return r.status_code, r.json() if r.status_code == 200 else r.json()["error"]


def test_the_service_answers_alike_with_and_without_the_pool(pooled: TestClient, inline: TestClient) -> None:
    for files in [uploads(), [uploads()[0], b"not an image"], [uploads()[1], blank_png()]]:
        assert answers(pooled, files) == answers(inline, files)
    assert answers(pooled, [uploads()[0], b""])[1]["message"].startswith("files[1]: ")
    assert "child" in pooled.get("/models/mnist").json()["serving"]["runs_in"]


def test_the_service_survives_a_killed_child(pooled: TestClient) -> None:
    pool = pooled.app.state.service.digit.runner.pool  # type: ignore[attr-defined]
    os.kill(child_pid(pool), signal.SIGKILL)
    status, body = answers(pooled, uploads())
    assert status == 200 and len(body["predictions"]) == 2
    metrics = pooled.get("/metrics").text
    assert 'inference_stage_duration_seconds_count{model="mnist",stage="preprocess"}' in metrics
    assert 'inference_stage_duration_seconds_count{model="mnist",stage="inference"}' in metrics


def test_a_client_error_in_the_child_is_the_same_client_error(pooled: TestClient) -> None:
    r = pooled.post("/predict/digit", files={"file": ("x.txt", b"plain text", "text/plain")})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
