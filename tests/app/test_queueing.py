"""The one bounded queue with a deadline: room in images, a deadline from submission, room given back once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import Overloaded
from app.queueing import DeadlineQueue


def run(body: Any) -> Any:
    return asyncio.run(body())


def test_a_full_queue_refuses_at_once_and_reports_why() -> None:
    reasons: list[str] = []

    async def body() -> None:
        queue: DeadlineQueue[str, str] = DeadlineQueue("upload", 3, 10.0, reasons.append)
        queue.put("a", 2)
        with pytest.raises(Overloaded, match=r"the upload queue is full \(2 images waiting\)") as full:
            queue.put("b", 2)
        assert full.value.headers == {"Retry-After": "10"} and queue.pending == 2

    run(body)
    assert reasons == ["queue_full"]


def test_a_job_expired_while_queued_frees_its_room_at_once_and_is_skipped() -> None:
    reasons: list[str] = []

    async def body() -> None:
        queue: DeadlineQueue[str, str] = DeadlineQueue("inference", 4, 0.05, reasons.append)
        late = queue.put("late", 3)
        with pytest.raises(Overloaded, match=r"the inference did not finish within 0\.05 s"):
            await late.future
        await asyncio.sleep(0)  # the done callback runs
        assert queue.pending == 0
        fresh = queue.put("fresh", 1)
        taken = queue.take()
        assert taken is fresh and queue.take() is None
        queue.finish(taken, "answer")
        assert await fresh.future == "answer" and queue.pending == 0

    run(body)
    assert reasons == ["deadline"]


def test_a_job_expired_on_a_worker_keeps_its_room_until_released_once() -> None:
    async def body() -> None:
        queue: DeadlineQueue[str, str] = DeadlineQueue("upload", 4, 0.05)
        job = queue.put("slow", 2)
        assert queue.take() is job
        with pytest.raises(Overloaded):
            await job.future
        await asyncio.sleep(0)
        assert queue.pending == 2  # the worker still works on it
        queue.finish(job, "too late")
        queue.release(job)
        assert queue.pending == 0

    run(body)


def test_jobs_put_back_go_first_in_order_and_a_cancelled_one_is_dropped() -> None:
    async def body() -> None:
        queue: DeadlineQueue[str, str] = DeadlineQueue("upload", 10, 10.0)
        first, second, third = (queue.put(name, 1) for name in ("first", "second", "third"))
        taken = [queue.take(), queue.take()]
        second.future.cancel()  # its caller left while a worker held it
        await asyncio.sleep(0)
        queue.put_back(job for job in taken if job is not None)
        assert queue.pending == 2
        assert [queue.take(), queue.take(), queue.take()] == [first, third, None]

    run(body)


def test_get_waits_for_a_job_and_wait_times_out() -> None:
    async def body() -> None:
        queue: DeadlineQueue[str, str] = DeadlineQueue("inference", 10, 10.0)
        assert await queue.wait(0.01) is False
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.01)
        job = queue.put("x", 1)
        assert await getter is job and job.taken

    run(body)
