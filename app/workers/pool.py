"""Supervision of the upload child processes: start them, give them the network, replace, stop.

A child (`app.workers.worker`) costs ~0.3 s of imports, so `launch` starts them early and `start`
waits for each one's `Ready`. When the server serves the digit network with ONNX Runtime, each
child gets the same verified ONNX model and is trusted with it only if its logits on the probe
batch equal the server's bit for bit; else the server's batcher runs the network. A child that dies
is replaced (with the network, checked again); if none can be started, the caller gives up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.workers import messages
from app.workers.messages import LoadNetwork, Logits, Message, NetworkLoaded, Ready

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]  # the child imports `app` from here
START_TIMEOUT_S = 60.0


class PoolUnavailable(Exception):
    """Raised when no child process can take work; the caller prepares in-process."""


@dataclass(frozen=True)
class Network:
    """What a child needs to run the digit network, and what it must answer on the probe batch."""

    onnx_model: bytes
    threads: int
    probe: npt.NDArray[np.float32]
    expected: Logits  # the server's own logits on the probe


@dataclass(eq=False)
class Child:
    """One child process: messages in on its stdin, out on its stdout."""

    process: asyncio.subprocess.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: Message) -> None:
        assert self.process.stdin is not None
        messages.send(self.process.stdin, message)

    async def receive(self) -> Message:
        """The next message; `ProtocolError` once the child is gone."""
        assert self.process.stdout is not None
        return await messages.receive(self.process.stdout)

    async def close(self) -> None:
        """Close its stdin (it exits at EOF) and wait, killing it if it hangs."""
        if self.process.returncode is not None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            await self.reap()

    async def reap(self) -> int:
        """Its exit code, killing it first if it still runs (its stream broke, not its process)."""
        if self.process.returncode is None:
            self.process.kill()
        return await self.process.wait()


async def spawn(module: str, max_pixels: int) -> Child:
    """`python -m module MAX_PIXELS`, once it said `Ready`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", module, str(max_pixels)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )
    child = Child(process)
    try:
        hello = await asyncio.wait_for(child.receive(), START_TIMEOUT_S)
        if not isinstance(hello, Ready):
            raise RuntimeError(f"unexpected first message from the child: {type(hello).__name__}")
    except BaseException:
        await child.reap()
        raise
    return child


async def load_network(child: Child, network: Network) -> bool:
    """Send the network; True if the child's logits on the probe equal the server's bit for bit."""
    try:
        child.send(LoadNetwork(network.onnx_model, network.threads, network.probe))
        answer = await asyncio.wait_for(child.receive(), START_TIMEOUT_S)
    except Exception as exc:  # it died or hung: its reader finds out and replaces it
        answer = NetworkLoaded(error=f"no answer: {type(exc).__name__}: {exc}")
    if not isinstance(answer, NetworkLoaded):
        answer = NetworkLoaded(error=f"a {type(answer).__name__} instead of its answer")
    why = answer.error
    if answer.logits is not None:
        logits = np.frombuffer(answer.logits, np.float32).reshape(network.expected.shape)
        if np.array_equal(logits, network.expected):
            return True
        why = f"its logits differ by up to {float(np.max(np.abs(logits - network.expected))):.3g}"
    logger.warning("the upload child cannot run the digit network (%s); the server runs it", why)
    return False


class Supervisor:
    """`launch()` early, `await start(network)` for the children, `replace` a dead one, `stop`."""

    def __init__(self, processes: int, max_pixels: int, module: str) -> None:
        self.processes, self.max_pixels = processes, max_pixels
        self.module = module  # the child's `python -m` module (tests substitute one that misbehaves)
        self.network: Network | None = None  # set once every child runs it
        self._launched: asyncio.Future[list[Child | BaseException]] | None = None
        self._children: set[Child] = set()  # started and not yet reaped

    def launch(self) -> None:
        """Start the child processes; `start` waits for them."""
        launches = (self._spawn() for _ in range(self.processes))
        self._launched = asyncio.ensure_future(asyncio.gather(*launches, return_exceptions=True))

    async def start(self, network: Network | None = None) -> list[Child]:
        """Every child, with `network` if all run it bit for bit; none (logged) if one cannot start."""
        if self._launched is None:
            self.launch()
        assert self._launched is not None
        launched = await self._launched
        children = [c for c in launched if isinstance(c, Child)]
        errors = [c for c in launched if not isinstance(c, Child)]
        if errors:
            logger.warning("preparing uploads in-process: no child process (%s)", errors[0])
            await self._close(children)
            return []
        if network is not None:
            verdicts = await asyncio.gather(*(load_network(c, network) for c in children))
            self.network = network if all(verdicts) else None
        return children

    async def replace(self, dead: Child, reason: BaseException) -> Child | None:
        """A new child for `dead` (with the network if it still runs it), or None if none starts."""
        code = await dead.reap()
        self._children.discard(dead)
        logger.error("upload child process %s died (exit %s, %s); replacing it", dead.pid, code, reason)
        try:
            child = await self._spawn()
        except Exception as error:
            logger.error("no upload child process could be started (%s)", error)
            return None
        if self.network is not None and not await load_network(child, self.network):
            self.network = None  # the server's batcher runs the network from now on
        return child

    async def stop(self) -> None:
        """Close every child, those still starting included."""
        if self._launched is not None:
            await asyncio.gather(self._launched, return_exceptions=True)
        await self._close(list(self._children))

    async def _spawn(self) -> Child:
        child = await spawn(self.module, self.max_pixels)
        self._children.add(child)
        return child

    async def _close(self, children: Iterable[Child]) -> None:
        children = list(children)
        await asyncio.gather(*(child.close() for child in children))
        self._children.difference_update(children)
