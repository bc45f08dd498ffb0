"""One bounded queue with a deadline, for the micro-batcher and the upload children's dispatcher.

Capacity is counted in images (`limit`): a job that would pass it is refused at once with
`Overloaded` ("queue_full"). Every job has a deadline `timeout_s` from its submission: if it is not
answered by then, its caller's future fails with `Overloaded` ("deadline") at that moment, wherever
the job is, waiting or running. Both carry Retry-After; both reasons go to `on_reject`.

Why this semantics: the deadline is what the client waits, so it runs from the moment the service
accepted the job, and one timer per job answers the caller on time whether the job is still queued
or already on a worker (the batcher used to time only its caller's wait, the pool set a timer: the
same promise, now kept once). A job that expires while queued gives its room back at once and is
skipped when a batch forms: it would be wasted work. One that expires on a worker keeps its room
until the worker hands it back, because the worker is still busy with it. Every path that ends a
job's stay (answered, failed, expired or cancelled while queued, handed back) goes through
`release`, which gives a job's images back exactly once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.errors import Overloaded

P = TypeVar("P")  # what the worker needs of a job
R = TypeVar("R")  # what its caller gets back


@dataclass(eq=False)
class Job(Generic[P, R]):
    """One caller's work: its payload, its size in images and the future its caller awaits."""

    payload: P
    size: int
    future: asyncio.Future[R]
    timer: asyncio.TimerHandle | None = None
    taken: bool = False  # on a worker: only `release` gives its room back, not its deadline
    counted: bool = True  # its images are in `pending`


class DeadlineQueue(Generic[P, R]):
    """First in, first out; `put` admits or refuses, `take` hands out the next live job."""

    def __init__(
        self, name: str, limit: int, timeout_s: float, on_reject: Callable[[str], None] | None = None
    ) -> None:
        self.name, self.limit, self.timeout_s, self.on_reject = name, limit, timeout_s, on_reject
        self._jobs: deque[Job[P, R]] = deque()
        self._pending = 0  # images queued or on a worker
        self._arrived = asyncio.Event()

    @property
    def pending(self) -> int:
        return self._pending

    def put(self, payload: P, size: int) -> Job[P, R]:
        """Queue a job of `size` images (its deadline starts now), or raise `Overloaded` if full."""
        if self._pending + size > self.limit:
            message = f"the {self.name} queue is full ({self._pending} images waiting); retry later"
            raise self._refusal("queue_full", message)
        loop = asyncio.get_running_loop()
        job: Job[P, R] = Job(payload, size, loop.create_future())
        job.timer = loop.call_later(self.timeout_s, self._expire, job)
        job.future.add_done_callback(lambda _: self._settled(job))
        self._pending += size
        self._jobs.append(job)
        self._arrived.set()
        return job

    def put_back(self, jobs: Iterable[Job[P, R]]) -> None:
        """Jobs a worker handed back unanswered go first again, in their order, deadlines unchanged."""
        again = []
        for job in jobs:
            job.taken = False
            if job.future.done():  # past its deadline on the worker, or its caller left
                self.release(job)
            else:
                again.append(job)
        self._jobs.extendleft(reversed(again))
        if again:
            self._arrived.set()

    def peek(self) -> Job[P, R] | None:
        """The next live job, left in the queue; jobs already ended are dropped on the way."""
        while self._jobs and self._jobs[0].future.done():
            self.release(self._jobs.popleft())
        return self._jobs[0] if self._jobs else None

    def take(self) -> Job[P, R] | None:
        """The next live job, now on a worker (it must `finish`, `fail` or `put_back` it), or None."""
        job = self.peek()
        if job is not None:
            self._jobs.popleft()
            job.taken = True
        return job

    async def get(self) -> Job[P, R]:
        """`take`, waiting for a job if there is none."""
        while (job := self.take()) is None:
            await self.wait()
        return job

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until a job may be there to take; False if `timeout` seconds passed first."""
        if self._jobs:
            return True
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def finish(self, job: Job[P, R], result: R) -> None:
        """Answer the job's caller (unless it already has its answer) and give its room back."""
        if not job.future.done():
            job.future.set_result(result)
        self.release(job)

    def fail(self, job: Job[P, R], error: BaseException) -> None:
        """Fail the job's caller (unless it already has its answer) and give its room back."""
        if not job.future.done():
            job.future.set_exception(error)
        self.release(job)

    def release(self, job: Job[P, R]) -> None:
        """Give the job's images back, once however often it is called."""
        if job.counted:
            job.counted = False
            self._pending -= job.size

    def drain(self) -> list[Job[P, R]]:
        """Every queued job, taken out (the caller fails them)."""
        jobs = list(self._jobs)
        self._jobs.clear()
        return jobs

    def _expire(self, job: Job[P, R]) -> None:
        if not job.future.done():
            message = f"the {self.name} did not finish within {self.timeout_s:g} s; retry later"
            job.future.set_exception(self._refusal("deadline", message))

    def _settled(self, job: Job[P, R]) -> None:
        """The caller has its answer (or left): no timer; a job still queued frees its room now."""
        if job.timer is not None:
            job.timer.cancel()
        if not job.taken:
            self.release(job)

    def _refusal(self, reason: str, message: str) -> Overloaded:
        if self.on_reject is not None:
            self.on_reject(reason)
        return Overloaded.retry_within(message, self.timeout_s)
