"""Digit uploads decoded, brought to MNIST form and run through the network in child processes.

Preparing an upload is most of a digit request's CPU (~0.4 ms at 28x28, tens of ms for a photo).
Under the GIL a thread cannot run it beside the event loop; a process can, on the next core. When
the server serves the network with ONNX Runtime, each child also runs it on its batch, so the event
loop only frames bytes and writes answers.

`ChildPool` is the one object the server calls; the work is split as in MLServer's `parallel/`:
`messages` (the wire), `worker` (the child's loop), `pool` (start, replace, stop the children) and
`dispatcher` (queue, batch, fan out, fan in). The queue is `app.queueing`'s, as the batcher's: full
or past its deadline, a request gets `Overloaded` (503 with Retry-After). If no child can be
started, `available` turns false and the routes prepare uploads in-process, as with 0 processes.
"""

from __future__ import annotations

from collections.abc import Callable

from app.errors import ServiceError
from app.queueing import DeadlineQueue
from app.workers.dispatcher import Dispatcher, Result, Upload
from app.workers.messages import Logits, Pixels
from app.workers.pool import Child, Network, PoolUnavailable, Supervisor

Outcome = Pixels | ServiceError  # per upload: its MNIST form, or the client error to answer


class ChildPool:
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
        module: str = "app.workers.worker",
    ) -> None:
        self._supervisor = Supervisor(processes, max_pixels, module)
        queue: DeadlineQueue[Upload, Result] = DeadlineQueue("upload", queue_limit, timeout_s, on_reject)
        infer = self._runs_network
        self._dispatcher = Dispatcher(queue, max_batch, infer, self._child_lost, observe, on_batch)
        self._queue = queue
        self._available = False
        self._closing = False

    @property
    def available(self) -> bool:
        """True while a child serves; false before `start`, after `stop` or when none can start."""
        return self._available

    @property
    def network(self) -> Network | None:
        """The network every child runs (bit for bit as the server), or None: the server runs it."""
        return self._supervisor.network

    @property
    def pending(self) -> int:
        """Images queued or in a child."""
        return self._queue.pending

    def launch(self) -> None:
        """Start the child processes (~0.3 s of imports each); `start` waits for them."""
        self._supervisor.launch()

    async def start(self, network: Network | None = None) -> None:
        """Wait for the children, give them `network`; if one cannot start, log why and stay unavailable."""
        children = await self._supervisor.start(network)
        for child in children:
            self._dispatcher.serve(child)
        self._available = bool(children)

    async def prepare(self, files: list[bytes]) -> tuple[list[Outcome], Logits | None]:
        """One outcome per upload (and the logits, if a child ran the network); raises `Overloaded`
        (queue full, deadline) or `PoolUnavailable`."""
        if not self._available:
            raise PoolUnavailable
        return await self._dispatcher.prepare(files)

    async def stop(self) -> None:
        """Hand back every request (`PoolUnavailable`), close every child's stdin and wait for it."""
        self._closing = True
        self._available = False
        await self._dispatcher.stop()
        await self._supervisor.stop()

    def _runs_network(self) -> bool:
        return self._supervisor.network is not None

    async def _child_lost(self, child: Child, reason: BaseException) -> None:
        """A child died (its jobs are queued again): replace it, or give up when none is left."""
        if self._closing:
            return
        replacement = await self._supervisor.replace(child, reason)
        if replacement is not None:
            self._dispatcher.serve(replacement)
        elif not self._dispatcher.lanes:
            self._available = False
            self._dispatcher.give_up()
