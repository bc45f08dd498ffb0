"""The upload children's wire: every message round-trips, a cut frame or a stray payload is detected."""

from __future__ import annotations

import asyncio
import io
import pickle

import numpy as np
import pytest

from app.errors import PayloadTooLarge, ServiceError
from app.workers.messages import (
    FRAME,
    BatchDone,
    Failed,
    LoadNetwork,
    Message,
    NetworkLoaded,
    PrepareBatch,
    Prepared,
    ProtocolError,
    Ready,
    WireError,
    frame,
    read_message,
    receive,
    write_message,
)

PIXELS = bytes(range(256)) * 3 + bytes(16)  # 784
ERROR = WireError(413, "payload_too_large", "too big", [{"pixels": 9}], {"Retry-After": "3"})
MESSAGES: list[Message] = [
    Ready(),
    LoadNetwork(b"onnx bytes", 2, np.arange(784, dtype=np.float32).reshape(1, 1, 28, 28)),
    NetworkLoaded(logits=np.ones(10, np.float32).tobytes()),
    NetworkLoaded(error="RuntimeError: no session"),
    PrepareBatch(7, [b"\x89PNG", b""], infer=True),
    BatchDone(7, [Prepared(PIXELS, 0.001, 0.002), Failed(ERROR)], np.ones(10, np.float32).tobytes(), 0.5),
]


def equal(a: Message, b: Message) -> bool:
    if isinstance(a, LoadNetwork) and isinstance(b, LoadNetwork):
        return (a.onnx_model, a.threads) == (b.onnx_model, b.threads) and np.array_equal(a.probe, b.probe)
    return a == b


def async_read(data: bytes) -> Message:
    async def read() -> Message:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await receive(reader)

    return asyncio.run(read())


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_on_both_sides(message: Message) -> None:
    stream = io.BytesIO()
    write_message(stream, message)
    assert stream.getvalue() == frame(message)
    stream.seek(0)
    blocking = read_message(stream)
    assert blocking is not None and equal(blocking, message)
    assert read_message(stream) is None  # EOF between frames: the end, not an error
    assert equal(async_read(frame(message)), message)


def test_the_decoded_forms_are_the_arrays_sent() -> None:
    pixels = np.arange(784, dtype=np.uint8).reshape(28, 28)
    logits = np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10)
    np.testing.assert_array_equal(Prepared(pixels.tobytes(), 0.0, 0.0).array(), pixels)
    assert np.array_equal(BatchDone(1, [], logits.tobytes(), 0.1).rows(), logits)
    assert BatchDone(1, [], None, 0.0).rows() is None


@pytest.mark.parametrize("cut", [2, FRAME.size, FRAME.size + 5])
def test_a_truncated_frame_is_detected_on_both_sides(cut: int) -> None:
    data = frame(PrepareBatch(1, [b"x" * 100], infer=False))[:cut]
    with pytest.raises(ProtocolError, match="ended"):
        read_message(io.BytesIO(data))
    with pytest.raises(ProtocolError, match="ended"):
        async_read(data)


def test_a_payload_that_is_not_a_message_is_refused() -> None:
    for payload in (pickle.dumps(("batch", 1, [], None, 0.0)), b"not a pickle"):
        data = FRAME.pack(len(payload)) + payload
        with pytest.raises(ProtocolError):
            read_message(io.BytesIO(data))
        with pytest.raises(ProtocolError):
            async_read(data)


def test_a_service_error_crosses_with_every_part_and_a_bug_as_a_generic_500() -> None:
    class Teapot(ServiceError):
        status, code = 418, "teapot"

    for exc in (PayloadTooLarge("too big", [{"pixels": 9}], {"Retry-After": "3"}), Teapot("stout")):
        rebuilt = pickle.loads(pickle.dumps(WireError.of(exc))).rebuild()
        parts = ("status", "code", "message", "details", "headers")
        assert [getattr(rebuilt, p) for p in parts] == [getattr(exc, p) for p in parts]
    bug = WireError.of(KeyError("secret path"))
    assert (bug.status, bug.code, bug.details, bug.headers) == (500, "internal_error", None, None)
    assert "secret" not in bug.message and bug.bug == "KeyError: 'secret path'"
    assert bug.rebuild().status == 500 and not hasattr(ServiceError, "bug")
