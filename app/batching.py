"""A micro-batcher: requests arriving close together run as one network call on one thread.

The queue (`app.queueing`) is bounded (`queue_limit` images) and every request has a deadline
`timeout_s` from submission; past either the caller gets `Overloaded` (503 with Retry-After). The
network only ever runs on the single worker thread, because a Paddle network is not safe to call
from several threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from app.queueing import DeadlineQueue, Job

logger = logging.getLogger(__name__)
Array = npt.NDArray[np.float32]
InferFn = Callable[[Array], Array]
_Job = Job[Array, Array]  # (k, 1, 28, 28) images -> their (k, 10) logits


class MicroBatcher:
    """Collects jobs for up to `max_wait_s` or `max_size` images, then runs `infer` once on the batch."""

    def __init__(
        self,
        infer: InferFn,
        max_size: int,
        max_wait_s: float,
        queue_limit: int,
        timeout_s: float,
        on_batch: Callable[[int, float], None] | None = None,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.infer, self.max_size, self.max_wait_s = infer, max_size, max_wait_s
        self.queue_limit, self.timeout_s, self.on_batch = queue_limit, timeout_s, on_batch
        self.on_reject = on_reject
        self._queue: DeadlineQueue[Array, Array] = DeadlineQueue(
            "inference", queue_limit, timeout_s, on_reject
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._queue.pending  # images queued or running

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None  # its CancelledError's traceback holds this batcher: no cycle is left
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, x: Array) -> Array:
        """(k, 1, 28, 28) -> (k, 10) logits, exactly as `infer(x)` alone would give them."""
        return await self._queue.put(x, len(x)).future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            live = [j for j in batch if not j.future.done()]  # some may pass their deadline meanwhile
            try:
                if live:
                    await self._infer(live)
            finally:
                for job in batch:
                    self._queue.release(job)

    async def _collect(self) -> list[_Job]:
        """The next live jobs, for up to `max_wait_s` after the first or until `max_size` images."""
        first = await self._queue.get()
        batch, size = [first], first.size
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_size:
            job = self._queue.take()
            if job is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await self._queue.wait(remaining):
                    break
                continue
            batch.append(job)
            size += job.size
        return batch

    async def _infer(self, jobs: list[_Job]) -> None:
        x = jobs[0].payload if len(jobs) == 1 else np.concatenate([j.payload for j in jobs])
        start = time.perf_counter()
        try:
            logits = await asyncio.get_running_loop().run_in_executor(self._executor, self.infer, x)
        except Exception as exc:  # a backend failure fails this batch's requests, not the batcher
            logger.exception("inference failed for a batch of %d", len(x))
            for j in jobs:
                self._queue.fail(j, exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(x), time.perf_counter() - start)
        offset = 0
        for j in jobs:
            self._queue.finish(j, logits[offset : offset + j.size])
            offset += j.size
