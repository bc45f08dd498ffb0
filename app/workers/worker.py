"""The upload child's loop: decode uploads, bring them to MNIST form, run the network on them.

`python -m app.workers.worker MAX_PIXELS`. It speaks `app.workers.messages` over stdin and stdout:
`Ready` first, then one answer per message, in order, until EOF on stdin. It never imports paddle
or FastAPI.

Two stages: the main thread prepares a batch (`Worker.take`), a second thread runs the network on
it and writes the answer (`Worker.finish`). ONNX Runtime releases the GIL, so the network runs on a
free core while the next batch is prepared; the parent keeps two batches in flight to feed both.
"""

from __future__ import annotations

import gc
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from app.errors import ServiceError
from app.inference import OnnxRuntimeBackend
from app.predictors.preprocess import prepare_upload, set_pixel_limit
from app.workers.messages import (
    BatchDone,
    Failed,
    LoadNetwork,
    Message,
    NetworkLoaded,
    Outcome,
    PrepareBatch,
    Prepared,
    ProtocolError,
    Ready,
    WireError,
    read_message,
    write_message,
)
from models.features import IMAGE_SIZE, scale_pixels


@dataclass(frozen=True)
class PreparedBatch:
    """A batch done up to the network: what the first stage hands the second."""

    batch_id: int
    outcomes: list[Outcome]
    infer: bool


def outcome(data: bytes, max_pixels: int) -> Outcome:
    """One upload's outcome, as the parent reads it (tests substitute one that misbehaves)."""
    try:
        pixels, decode_s, preprocess_s = prepare_upload(data, max_pixels)
    except Exception as exc:  # a client error crosses intact; a bug as a 500 the parent logs
        if not isinstance(exc, ServiceError):
            traceback.print_exc(file=sys.stderr)
        return Failed(WireError.of(exc))
    return Prepared(pixels.tobytes(), decode_s, preprocess_s)


class Worker:
    """The child's state: the pixel limit and, once the server sent it, the network.

    `take` is the first stage (main thread), `finish` the second (the network and the answer).
    """

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.network: OnnxRuntimeBackend | None = None  # called from the finishing thread only, once loaded

    def take(self, message: Message) -> NetworkLoaded | PreparedBatch:
        """A message from the server -> its work done up to the network: a job for `finish`."""
        if isinstance(message, LoadNetwork):
            return self.load_network(message)
        if isinstance(message, PrepareBatch):
            outcomes = [outcome(data, self.max_pixels) for data in message.files]
            return PreparedBatch(message.batch_id, outcomes, message.infer)
        raise ProtocolError(f"the child does not take {type(message).__name__}")

    def finish(self, job: NetworkLoaded | PreparedBatch) -> NetworkLoaded | BatchDone:
        """A job -> the answer to write."""
        if isinstance(job, NetworkLoaded):
            return job
        if not job.infer or self.network is None:
            return BatchDone(job.batch_id, job.outcomes, None, 0.0)
        logits, seconds = self.infer(self.network, job.outcomes)
        return BatchDone(job.batch_id, job.outcomes, logits, seconds)

    def load_network(self, message: LoadNetwork) -> NetworkLoaded:
        try:
            self.network = OnnxRuntimeBackend(message.onnx_model, message.threads)
            return NetworkLoaded(logits=self.network.predict_logits(message.probe).tobytes())
        except Exception as exc:  # the server then runs the network itself
            self.network = None
            return NetworkLoaded(error=f"{type(exc).__name__}: {exc}")

    @staticmethod
    def infer(network: OnnxRuntimeBackend, outcomes: list[Outcome]) -> tuple[bytes | None, float]:
        """The float32 (k, 10) logits bytes of the k prepared uploads and the call's seconds."""
        ok = [o.pixels for o in outcomes if isinstance(o, Prepared)]
        if not ok:
            return None, 0.0
        pixels = np.frombuffer(b"".join(ok), np.uint8).reshape(len(ok), IMAGE_SIZE, IMAGE_SIZE)
        start = time.perf_counter()
        try:
            logits = network.predict_logits(scale_pixels(pixels))
        except Exception:  # the server runs the network for this batch instead
            traceback.print_exc(file=sys.stderr)
            return None, 0.0
        return logits.tobytes(), time.perf_counter() - start


Stage = NetworkLoaded | PreparedBatch  # the first stage's work, for the second


def finish_all(worker: Worker, jobs: queue.Queue[Stage | None], out: BinaryIO) -> None:
    """The second stage: network and answer for each job, in order, until None."""
    while (job := jobs.get()) is not None:
        write_message(out, worker.finish(job))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    worker = Worker(int(sys.argv[1]))
    set_pixel_limit(worker.max_pixels)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only; a stray print must not corrupt them
    sys.setswitchinterval(0.001)  # the finishing thread gets the GIL back soon after the network ran
    gc.collect()
    gc.freeze()  # as in the server: no full collection scans the imported modules' objects
    write_message(stdout, Ready())
    jobs: queue.Queue[Stage | None] = queue.Queue(maxsize=2)
    finisher = threading.Thread(target=finish_all, args=(worker, jobs, stdout), name="finish", daemon=True)
    finisher.start()
    while (message := read_message(stdin)) is not None:
        jobs.put(worker.take(message))
    jobs.put(None)
    finisher.join()


if __name__ == "__main__":
    main()
