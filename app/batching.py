"""A micro-batcher: requests arriving close together run as one network call on one thread.

The queue is bounded (`queue_limit` images) and every request has a deadline; past either the
caller gets `Overloaded` (503 with Retry-After). The network only ever runs on the single worker
thread, because a Paddle network is not safe to call from several threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.errors import Overloaded

logger = logging.getLogger(__name__)
Array = npt.NDArray[np.float32]
InferFn = Callable[[Array], Array]


@dataclass
class _Job:
    x: Array  # (k, 1, 28, 28)
    future: asyncio.Future[Array]
    enqueued: float = field(default_factory=time.monotonic)


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
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._pending = 0  # images queued or running
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, x: Array) -> Array:
        """(k, 1, 28, 28) -> (k, 10) logits, exactly as `infer(x)` alone would give them."""
        k = len(x)
        if self._pending + k > self.queue_limit:
            self._rejected("queue_full")
            message = f"inference queue is full ({self._pending} images waiting); retry later"
            raise Overloaded.retry_within(message, self.timeout_s)
        job = _Job(x, asyncio.get_running_loop().create_future())
        self._pending += k
        self._jobs.put_nowait(job)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout_s)
        except TimeoutError:
            self._rejected("deadline")
            message = f"inference did not finish within {self.timeout_s:g} s; retry later"
            raise Overloaded.retry_within(message, self.timeout_s) from None

    def _rejected(self, reason: str) -> None:
        if self.on_reject is not None:
            self.on_reject(reason)

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            live = [j for j in batch if not self._expired(j)]
            try:
                if live:
                    await self._infer(live)
            finally:
                self._pending -= sum(len(j.x) for j in batch)

    def _expired(self, job: _Job) -> bool:
        if time.monotonic() - job.enqueued < self.timeout_s:
            return False
        if not job.future.done():
            job.future.cancel()
        return True

    async def _collect(self) -> list[_Job]:
        batch = [await self._jobs.get()]
        size = len(batch[0].x)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_size:
            try:
                if self._jobs.empty():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    job = await asyncio.wait_for(self._jobs.get(), remaining)
                else:
                    job = self._jobs.get_nowait()
            except TimeoutError:
                break
            batch.append(job)
            size += len(job.x)
        return batch

    async def _infer(self, jobs: list[_Job]) -> None:
        x = jobs[0].x if len(jobs) == 1 else np.concatenate([j.x for j in jobs])
        start = time.perf_counter()
        try:
            logits = await asyncio.get_running_loop().run_in_executor(self._executor, self.infer, x)
        except Exception as exc:  # a backend failure fails this batch's requests, not the batcher
            logger.exception("inference failed for a batch of %d", len(x))
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(x), time.perf_counter() - start)
        offset = 0
        for j in jobs:
            if not j.future.done():
                j.future.set_result(logits[offset : offset + len(j.x)])
            offset += len(j.x)
