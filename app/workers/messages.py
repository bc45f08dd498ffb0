"""What the server and an upload child say to each other: typed messages, their codec and framing.

A frame is a 4-byte big-endian length, then that many bytes: the pickle of one message below (from
our own process tree only; pickle keeps the dataclasses and their bytes as they are). The child
first says `Ready`; the server sends `LoadNetwork` (answered by `NetworkLoaded`) and `PrepareBatch`
(answered by `BatchDone`, one outcome per upload, in order). EOF on the child's stdin ends it.

An error crosses as a `WireError`: status, code, message, details and headers of any `ServiceError`,
so the server answers exactly what an in-process preparation would. A bug (any other exception)
crosses as a 500 `internal_error` with a generic message; its text travels beside it for the log.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from app.errors import ServiceError
from models.features import IMAGE_SIZE

FRAME = struct.Struct(">I")
CLASSES = 10
BUG_MESSAGE = "internal error while preparing the upload"
Pixels = npt.NDArray[np.uint8]  # (28, 28), MNIST form
Logits = npt.NDArray[np.float32]  # (k, 10)


class ProtocolError(Exception):
    """Raised for a frame cut short or a payload that is not one of these messages."""


@dataclass(frozen=True)
class Ready:
    """The child's first message: imports done, it reads frames now."""


@dataclass(frozen=True)
class LoadNetwork:
    """Build an ONNX Runtime session of `onnx_model` and answer its logits on `probe` (N, 1, 28, 28)."""

    onnx_model: bytes
    threads: int
    probe: npt.NDArray[np.float32]


@dataclass(frozen=True)
class NetworkLoaded:
    """The probe's float32 logits as bytes, or why the child cannot run the network."""

    logits: bytes | None = None
    error: str | None = None


@dataclass(frozen=True)
class PrepareBatch:
    """Bring `files` to MNIST form; with `infer`, also run the network on those that succeed."""

    batch_id: int
    files: list[bytes]
    infer: bool


@dataclass(frozen=True)
class WireError:
    """A `ServiceError` as parts; `bug` is the child's text of an unexpected exception, for the log."""

    status: int
    code: str
    message: str
    details: list[Any] | None = None
    headers: dict[str, str] | None = None
    bug: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> WireError:
        """The error to send for `exc`: itself if a `ServiceError`, else a generic 500."""
        if isinstance(exc, ServiceError):
            return cls(exc.status, exc.code, exc.message, exc.details, exc.headers)
        return cls(500, "internal_error", BUG_MESSAGE, bug=f"{type(exc).__name__}: {exc}")

    def rebuild(self) -> ServiceError:
        """The error to answer in the server: same status, code, message, details and headers."""
        return ServiceError.from_parts(self.status, self.code, self.message, self.details, self.headers)


@dataclass(frozen=True)
class Prepared:
    """One upload in MNIST form: 784 uint8 pixel bytes, and the seconds decoding and preprocessing took."""

    pixels: bytes
    decode_s: float
    preprocess_s: float

    def array(self) -> Pixels:
        return np.frombuffer(self.pixels, np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


@dataclass(frozen=True)
class Failed:
    """One upload that could not be prepared."""

    error: WireError


Outcome = Prepared | Failed


@dataclass(frozen=True)
class BatchDone:
    """One outcome per file; with `infer`, `logits`: float32 (k, 10) bytes of the k `Prepared`, one call."""

    batch_id: int
    outcomes: list[Outcome]
    logits: bytes | None
    seconds: float  # the network call's

    def rows(self) -> Logits | None:
        return None if self.logits is None else np.frombuffer(self.logits, np.float32).reshape(-1, CLASSES)


Message = Ready | LoadNetwork | NetworkLoaded | PrepareBatch | BatchDone
MESSAGES = (Ready, LoadNetwork, NetworkLoaded, PrepareBatch, BatchDone)


def frame(message: Message) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(payload)) + payload


def decode(payload: bytes) -> Message:
    try:
        message = pickle.loads(payload)  # from our own child or parent only
    except Exception as exc:  # pickle raises many kinds on bad bytes
        raise ProtocolError(f"a payload that does not unpickle ({type(exc).__name__})") from exc
    if not isinstance(message, MESSAGES):
        raise ProtocolError(f"not a message: {type(message).__name__}")
    return message


def write_message(stream: BinaryIO, message: Message) -> None:
    """Blocking side (the child): one write, one system call."""
    stream.write(frame(message))
    stream.flush()


def read_message(stream: BinaryIO) -> Message | None:
    """Blocking side (the child): the next message, or None at EOF between frames."""
    header = stream.read(FRAME.size)
    if not header:
        return None
    if len(header) < FRAME.size:
        raise ProtocolError("the stream ended inside a frame's length")
    (size,) = FRAME.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise ProtocolError(f"the stream ended {size - len(payload)} bytes short of a frame's end")
    return decode(payload)


def send(writer: asyncio.StreamWriter, message: Message) -> None:
    """Asyncio side (the server): queue the frame on the child's stdin."""
    writer.write(frame(message))


async def receive(reader: asyncio.StreamReader) -> Message:
    """Asyncio side (the server): the next message; `ProtocolError` at EOF (the child is gone)."""
    try:
        (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("the stream ended" + (" inside a frame's length" if exc.partial else "")) from exc
    try:
        payload = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        missing = size - len(exc.partial)
        raise ProtocolError(f"the stream ended {missing} bytes short of a frame's end") from exc
    return decode(payload)
