"""Digit uploads decoded, brought to MNIST form and run through the network in child processes.

Preparing an upload is most of a digit request's CPU (~0.4 ms at 28x28, tens of ms for a photo).
Under the GIL a thread cannot run it beside the event loop; a process can, on the next core. When
the server serves the network with ONNX Runtime, each child also runs it on its batch (a session
built from the same verified ONNX model, accepted only if its logits on the probe batch equal the
server's bit for bit), so the event loop only frames bytes and writes answers.

Each child (`app.prepare_worker`) has at most two batches in flight (so it never waits for the
event loop between batches): the uploads of the requests queued meanwhile, up to `max_batch`
images, one pickle each way, no thread in this process.

The queue is bounded and every request has a deadline (503 with Retry-After past either). A child
that dies (an image that crashes the decoder, the OOM killer) is replaced; each request of its
batch is tried once more, alone; one that kills a child twice is refused (422). If no child can
be started, `available` turns false and the routes prepare uploads in-process, as with 0 processes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import InvalidInput, Overloaded, PayloadTooLarge, ServiceError, UnsupportedMediaType
from app.predictors.preprocess import DecodeError, NoInkError
from app.prepare_worker import FRAME, READY
from models.features import IMAGE_SIZE

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent  # the child imports `app` from here
START_TIMEOUT_S = 60.0
IN_FLIGHT = 2  # batches sent to a child before its first answer: it never waits for the event loop
CLASSES = 10
ERROR_TYPES = (NoInkError, DecodeError, InvalidInput, PayloadTooLarge, UnsupportedMediaType)
CLIENT_ERRORS: dict[str, type[ServiceError]] = {cls.__name__: cls for cls in ERROR_TYPES}
Pixels = npt.NDArray[np.uint8]
Logits = npt.NDArray[np.float32]
Outcome = Pixels | ServiceError  # per upload: its MNIST form, or the client error to answer
Result = tuple[list[Outcome], Logits | None]  # logits of every upload, when all are ok and a child ran them


class PoolUnavailable(Exception):
    """No child process can take work; the caller prepares in-process."""


@dataclass(frozen=True)
class Network:
    """What a child needs to run the digit network, and what it must answer on the probe batch."""

    onnx_model: bytes
    threads: int
    probe: npt.NDArray[np.float32]
    expected: Logits  # the server's own logits on the probe


@dataclass(eq=False)
class _Job:
    files: list[bytes]
    future: asyncio.Future[Result]
    retried: bool = False  # sent again, alone, after its child died


@dataclass(eq=False)
class _Child:
    process: asyncio.subprocess.Process
    batches: deque[list[_Job]] = field(default_factory=deque)  # in flight, oldest first
    suspect: bool = False  # its batch is a retry after a crash: nothing else goes with it

    @property
    def jobs(self) -> list[_Job]:
        return [job for batch in self.batches for job in batch]


class PreparePool:
    """`launch()` early, `await start(network)` once the network is chosen, then `await prepare(files)`."""

    def __init__(
        self,
        processes: int,
        max_pixels: int,
        max_batch: int,
        queue_limit: int,
        timeout_s: float,
        observe: Callable[[str, float], None] | None = None,
        on_reject: Callable[[str], None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        module: str = "app.prepare_worker",
    ) -> None:
        self.module = module  # the child's `python -m` module (tests substitute one that misbehaves)
        self.processes, self.max_pixels, self.max_batch = processes, max_pixels, max_batch
        self.queue_limit, self.timeout_s = queue_limit, timeout_s
        self.observe, self.on_reject, self.on_batch = observe, on_reject, on_batch
        self.available = False
        self.network: Network | None = None  # set once every child runs it
        self._launched: asyncio.Future[list[_Child | BaseException]] | None = None
        self._queue: deque[_Job] = deque()
        self._pending = 0  # images queued or in flight
        self._children: list[_Child] = []  # alive and serving
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count()
        self._closing = False

    @property
    def pending(self) -> int:
        return self._pending

    def launch(self) -> None:
        """Start the child processes (~0.3 s of imports each); `start` waits for them."""
        launches = (self._launch() for _ in range(self.processes))
        self._launched = asyncio.ensure_future(asyncio.gather(*launches, return_exceptions=True))

    async def start(self, network: Network | None = None) -> None:
        """Wait for the children, give them `network`; if one cannot start, log why and stay unavailable."""
        if self._launched is None:
            self.launch()
        assert self._launched is not None
        launched = await self._launched
        children = [c for c in launched if isinstance(c, _Child)]
        errors = [c for c in launched if not isinstance(c, _Child)]
        if errors:
            logger.warning("preparing uploads in-process: no child process (%s)", errors[0])
            await asyncio.gather(*(_close(c.process) for c in children))
            return
        if network is not None:
            verdicts = await asyncio.gather(*(self._load_network(c, network) for c in children))
            self.network = network if all(verdicts) else None
        for child in children:
            self._serve(child)
        self.available = bool(children)

    async def _launch(self) -> _Child:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            str(self.max_pixels),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            hello = await asyncio.wait_for(_read_frame(process), START_TIMEOUT_S)
            if hello != READY:
                raise RuntimeError(f"unexpected first frame from the child: {hello[:40]!r}")
        except BaseException:
            process.kill()
            await process.wait()
            raise
        return _Child(process)

    async def _load_network(self, child: _Child, network: Network) -> bool:
        """Send the network; True if the child's logits on the probe equal the server's bit for bit."""
        try:
            _send(child, ("network", network.onnx_model, network.threads, network.probe))
            _, answer = pickle.loads(await asyncio.wait_for(_read_frame(child.process), START_TIMEOUT_S))
        except Exception as exc:  # it died or hung: its reader finds out and replaces it
            answer = f"no answer: {type(exc).__name__}: {exc}"
        if isinstance(answer, bytes):
            logits = np.frombuffer(answer, np.float32).reshape(network.expected.shape)
            if np.array_equal(logits, network.expected):
                return True
            answer = f"its logits differ by up to {float(np.max(np.abs(logits - network.expected))):.3g}"
        logger.warning("the upload child cannot run the digit network (%s); the server runs it", answer)
        return False

    def _serve(self, child: _Child) -> None:
        self._children.append(child)
        task = asyncio.get_running_loop().create_task(self._read_results(child))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def prepare(self, files: list[bytes]) -> Result:
        """One outcome per upload (and the logits, if a child ran the network); raises `Overloaded`
        (queue full, deadline) or `PoolUnavailable`."""
        if not self.available:
            raise PoolUnavailable
        if self._pending + len(files) > self.queue_limit:
            message = f"the upload queue is full ({self._pending} images waiting); retry later"
            raise self._overloaded("queue_full", message)
        loop = asyncio.get_running_loop()
        job = _Job(files, loop.create_future())
        self._queue.append(job)
        self._pending += len(files)
        self._dispatch()
        timer = loop.call_later(self.timeout_s, self._expire, job)
        try:
            return await job.future
        finally:
            timer.cancel()

    def _overloaded(self, reason: str, message: str) -> Overloaded:
        if self.on_reject is not None:
            self.on_reject(reason)
        return Overloaded.retry_within(message, self.timeout_s)

    def _expire(self, job: _Job) -> None:
        if not job.future.done():
            message = f"the upload was not prepared within {self.timeout_s:g} s; retry later"
            job.future.set_exception(self._overloaded("deadline", message))

    def _dispatch(self) -> None:
        """Send queued jobs, as batches, to the least busy children with room."""
        while self._queue:
            child = self._free_child(self._queue[0].retried)
            if child is None:
                return
            batch: list[_Job] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].files) <= self.max_batch):
                job = self._queue.popleft()
                if job.future.done():  # past its deadline while queued
                    self._pending -= len(job.files)
                    continue
                batch.append(job)
                size += len(job.files)
                if job.retried:  # a suspect goes alone
                    break
                if self._queue and self._queue[0].retried:
                    break
            if not batch:
                continue
            child.batches.append(batch)
            child.suspect = batch[0].retried
            files = [data for job in batch for data in job.files]
            _send(child, ("batch", next(self._ids), files, self.network is not None))

    def _free_child(self, suspect: bool) -> _Child | None:
        """The least busy child with room; a suspect goes to an idle one and is alone there."""
        room = 1 if suspect else IN_FLIGHT
        best: _Child | None = None
        for child in self._children:  # one or two: a loop is cheaper than min() over a list
            busy = len(child.batches)
            if busy < room and not child.suspect and (best is None or busy < len(best.batches)):
                best = child
        return best

    async def _read_results(self, child: _Child) -> None:
        try:
            while True:
                payload = await _read_frame(child.process)
                message = pickle.loads(payload)  # from our own child
                if message[0] == "batch":  # not a late answer to a network check that timed out
                    self._finish(child, message)
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            await self._child_died(child, exc)

    def _finish(self, child: _Child, message: tuple[Any, ...]) -> None:
        _, _, results, logits_bytes, seconds = message
        jobs = child.batches.popleft()
        child.suspect = False
        rows: Logits | None = None
        if logits_bytes is not None:
            rows = np.frombuffer(logits_bytes, np.float32).reshape(-1, CLASSES)
            if self.on_batch is not None:
                self.on_batch(len(rows), seconds)
        offset = row = 0
        for job in jobs:
            n = len(job.files)
            self._pending -= n
            outcomes = [self._outcome(r) for r in results[offset : offset + n]]
            ok = sum(1 for r in results[offset : offset + n] if r[0] == "ok")
            logits = rows[row : row + n] if rows is not None and ok == n else None
            if not job.future.done():
                job.future.set_result((outcomes, logits))
            offset, row = offset + n, row + ok
        self._dispatch()

    def _outcome(self, result: tuple[Any, ...]) -> Outcome:
        kind = result[0]
        if kind == "ok":
            if self.observe is not None:
                self.observe("decode", result[2])
                self.observe("preprocess", result[3])
            return np.frombuffer(result[1], np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
        if kind == "error" and result[1] in CLIENT_ERRORS:
            return CLIENT_ERRORS[result[1]](result[2])
        logger.error("preparing an upload failed in the child process: %s", result[1:])
        return ServiceError("internal error while preparing the upload")  # 500, like a bug in-process

    async def _child_died(self, child: _Child, exc: BaseException) -> None:
        code = await child.process.wait()
        self._children.remove(child)
        if self._closing:
            return
        logger.error("upload child process %s died (exit %s, %s); replacing it", child.process.pid, code, exc)
        for job in reversed(child.jobs):  # try each request again, alone; a repeat offender is refused
            self._pending -= len(job.files)
            if job.future.done():
                continue
            if job.retried:
                message = "the image could not be decoded: it stopped the decoder process"
                job.future.set_exception(DecodeError(message))
                continue
            job.retried = True
            self._queue.appendleft(job)
            self._pending += len(job.files)
        child.batches.clear()
        try:
            replacement = await self._launch()
            if self.network is not None and not await self._load_network(replacement, self.network):
                self.network = None  # the server's batcher runs the network from now on
        except Exception as error:
            logger.error("no upload child process could be started (%s); preparing in-process", error)
            if not self._children:
                self._give_up()
            return
        self._serve(replacement)
        self._dispatch()

    def _give_up(self) -> None:
        """Hand every queued and in-flight request back to the caller (it prepares in-process)."""
        self.available = False
        jobs = [*self._queue, *(job for child in self._children for job in child.jobs)]
        self._queue.clear()
        for job in jobs:
            self._pending -= len(job.files)
            if not job.future.done():
                job.future.set_exception(PoolUnavailable())

    async def stop(self) -> None:
        """Close every child's stdin (it exits at EOF) and wait, killing one that hangs."""
        self._closing = True
        self._give_up()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        processes = {c.process for c in self._children}
        if self._launched is not None:  # children launched but never served (a stop during start-up)
            processes |= {c.process for c in await self._launched if isinstance(c, _Child)}
        await asyncio.gather(*(_close(process) for process in processes))
        self._children.clear()


def _send(child: _Child, message: tuple[Any, ...]) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    assert child.process.stdin is not None
    child.process.stdin.writelines((FRAME.pack(len(payload)), payload))


async def _read_frame(process: asyncio.subprocess.Process) -> bytes:
    assert process.stdout is not None
    (size,) = FRAME.unpack(await process.stdout.readexactly(FRAME.size))
    return await process.stdout.readexactly(size)


async def _close(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 5.0)
    except TimeoutError:
        process.kill()
        await process.wait()
