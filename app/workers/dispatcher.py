"""Scheduling of upload jobs onto the child processes: batch, fan out, fan in, retry after a death.

Jobs wait in one `DeadlineQueue` (bounded in images, a deadline from submission). Each child has
at most two batches in flight, so it never waits for the event loop between batches: a batch is
the uploads of the jobs queued meanwhile, up to `max_batch` images, sent to the least busy child
(one frame each way, no thread in this process).

A child that dies (an image that crashes the decoder, the OOM killer) hands its jobs back: each is
tried once more, alone, on an idle child; one that kills a child twice is refused (422).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.errors import ServiceError
from app.predictors.preprocess import DecodeError
from app.queueing import DeadlineQueue, Job
from app.workers.messages import BatchDone, Logits, Outcome, Pixels, PrepareBatch, Prepared, ProtocolError
from app.workers.pool import Child, PoolUnavailable

logger = logging.getLogger(__name__)
IN_FLIGHT = 2  # batches sent to a child before its first answer: it never waits for the event loop
Result = tuple[list[Pixels | ServiceError], Logits | None]  # logits if all are ok and a child ran them
OnLost = Callable[[Child, BaseException], Awaitable[None]]


@dataclass(eq=False)
class Upload:
    """One request's files, and whether they already went to a child that died."""

    files: list[bytes]
    retried: bool = False


UploadJob = Job[Upload, Result]


@dataclass(eq=False)
class Lane:
    """A serving child and the batches it holds, oldest first."""

    child: Child
    batches: deque[tuple[int, list[UploadJob]]] = field(default_factory=deque)
    suspect: bool = False  # its batch is a retry after a crash: nothing else goes with it

    @property
    def jobs(self) -> list[UploadJob]:
        return [job for _, batch in self.batches for job in batch]


class Dispatcher:
    """`serve(child)` for each child, then `await prepare(files)`; `on_lost` hears of a dead child."""

    def __init__(
        self,
        queue: DeadlineQueue[Upload, Result],
        max_batch: int,
        infer: Callable[[], bool],
        on_lost: OnLost,
        observe: Callable[[str, float], None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.queue, self.max_batch, self.infer, self.on_lost = queue, max_batch, infer, on_lost
        self.observe, self.on_batch = observe, on_batch
        self.lanes: list[Lane] = []  # children alive and serving
        self._ids = itertools.count()
        self._readers: set[asyncio.Task[None]] = set()  # one per child, until it and its replacing end

    def serve(self, child: Child) -> None:
        """Send work to `child` from now on."""
        lane = Lane(child)
        reader = asyncio.get_running_loop().create_task(self._read(lane), name=f"child-{child.pid}")
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        self.lanes.append(lane)
        self._dispatch()

    async def prepare(self, files: list[bytes]) -> Result:
        """One outcome per upload (and logits, if a child ran the network); raises `Overloaded`."""
        job = self.queue.put(Upload(files), len(files))
        self._dispatch()
        return await job.future

    def give_up(self) -> None:
        """Fail every queued and in-flight job with `PoolUnavailable` (the caller prepares in-process)."""
        for job in [*self.queue.drain(), *(job for lane in self.lanes for job in lane.jobs)]:
            self.queue.fail(job, PoolUnavailable())
        for lane in self.lanes:
            lane.batches.clear()

    async def stop(self) -> None:
        """Stop reading from the children and replacing them (their supervisor closes them)."""
        self.give_up()
        readers = list(self._readers)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        self.lanes.clear()

    def _dispatch(self) -> None:
        """Send queued jobs, as batches, to the least busy children with room."""
        while (head := self.queue.peek()) is not None:
            lane = self._free_lane(head.payload.retried)
            if lane is None:
                return
            batch = self._batch()
            batch_id = next(self._ids)
            lane.batches.append((batch_id, batch))
            lane.suspect = batch[0].payload.retried
            files = [data for job in batch for data in job.payload.files]
            lane.child.send(PrepareBatch(batch_id, files, self.infer()))

    def _batch(self) -> list[UploadJob]:
        """The head job and those behind it up to `max_batch` images; a suspect goes alone."""
        first = self.queue.take()
        assert first is not None  # `_dispatch` saw it
        batch, size = [first], first.size
        while not first.payload.retried and (head := self.queue.peek()) is not None:
            if head.payload.retried or size + head.size > self.max_batch:
                break
            batch.append(head)
            self.queue.take()
            size += head.size
        return batch

    def _free_lane(self, suspect: bool) -> Lane | None:
        """The least busy child with room; a suspect goes to an idle one and is alone there."""
        room = 1 if suspect else IN_FLIGHT
        best: Lane | None = None
        for lane in self.lanes:  # one or two: a loop is cheaper than min() over a list
            busy = len(lane.batches)
            if busy < room and not lane.suspect and (best is None or busy < len(best.batches)):
                best = lane
        return best

    async def _read(self, lane: Lane) -> None:
        try:
            while True:
                message = await lane.child.receive()
                if isinstance(message, BatchDone):  # not a late answer to a network check that timed out
                    self._finish(lane, message)
        except Exception as exc:  # the stream ended or said something wrong: the child is lost either way
            self._lost(lane)
            await self.on_lost(lane.child, exc)

    def _finish(self, lane: Lane, done: BatchDone) -> None:
        batch_id, jobs = lane.batches[0]
        if done.batch_id != batch_id:  # raised before taking the batch: `_lost` hands its jobs back
            raise ProtocolError(f"the child answered batch {done.batch_id} for batch {batch_id}")
        rows = done.rows()
        lane.batches.popleft()
        lane.suspect = False
        if rows is not None and self.on_batch is not None:
            self.on_batch(len(rows), done.seconds)
        offset = row = 0
        for job in jobs:
            outcomes = done.outcomes[offset : offset + job.size]
            ok = sum(isinstance(o, Prepared) for o in outcomes)
            logits = rows[row : row + job.size] if rows is not None and ok == job.size else None
            self.queue.finish(job, ([self._outcome(o) for o in outcomes], logits))
            offset, row = offset + job.size, row + ok
        self._dispatch()

    def _outcome(self, outcome: Outcome) -> Pixels | ServiceError:
        if isinstance(outcome, Prepared):
            if self.observe is not None:
                self.observe("decode", outcome.decode_s)
                self.observe("preprocess", outcome.preprocess_s)
            return outcome.array()
        if outcome.error.bug is not None:  # answered as a 500 with a generic message, like a bug in-process
            logger.error("preparing an upload failed in the child process: %s", outcome.error.bug)
        return outcome.error.rebuild()

    def _lost(self, lane: Lane) -> None:
        """A child died: try each of its jobs again, alone; one that killed a child before is refused."""
        self.lanes.remove(lane)
        again = []
        for job in lane.jobs:
            if job.payload.retried:
                message = "the image could not be decoded: it stopped the decoder process"
                self.queue.fail(job, DecodeError(message))
            else:
                job.payload.retried = True
                again.append(job)
        lane.batches.clear()
        self.queue.put_back(again)
        self._dispatch()
