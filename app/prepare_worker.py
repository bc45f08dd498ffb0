"""The child process of `app.prepare_pool`: decodes uploads, brings them to MNIST form, runs the network.

`python -m app.prepare_worker MAX_PIXELS`. Frames both ways are a 4-byte big-endian length, then
that many bytes of pickle. The child first writes `READY`; then, for each frame it reads:

- `("network", onnx_model, threads, probe)`: build an ONNX Runtime session of the network the
  server verified, answer `("network", logits of the probe)` (or `("network", "error text")`);
  the server serves from it only if those logits equal its own bit for bit;
- `("batch", batch_id, [upload bytes, ...], infer)`: answer `("batch", batch_id, outcomes, logits,
  seconds)`. An outcome is `("ok", 784 pixel bytes, decode s, preprocess s)`, `("error",
  exception class name, message)` for a client error, or `("bug", text)`. With `infer`, `logits`
  are the float32 (k, 10) bytes of the k "ok" uploads in one network call of `seconds`, else None.

EOF on stdin ends the process. It never imports paddle or FastAPI.
"""

from __future__ import annotations

import gc
import pickle
import queue
import signal
import struct
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO

import numpy as np

from app.errors import ServiceError
from app.inference import OnnxRuntimeBackend
from app.predictors.preprocess import prepare_upload, set_pixel_limit
from models.features import IMAGE_SIZE, scale_pixels

FRAME = struct.Struct(">I")
READY = b"ready"


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(FRAME.pack(len(payload)) + payload)  # one write, one system call
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload, or None at EOF."""
    header = stream.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    (size,) = FRAME.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def outcome(data: bytes, max_pixels: int) -> tuple[Any, ...]:
    """One upload's outcome, as the parent reads it."""
    try:
        pixels, decode_s, preprocess_s = prepare_upload(data, max_pixels)
    except ServiceError as exc:
        return ("error", type(exc).__name__, exc.message)
    except Exception as exc:  # a bug, not the client's fault: the parent answers 500 and logs it
        traceback.print_exc(file=sys.stderr)
        return ("bug", f"{type(exc).__name__}: {exc}")
    return ("ok", pixels.tobytes(), decode_s, preprocess_s)


class Worker:
    """The child's state: the pixel limit and, once the server sent it, the network.

    Two stages: the main thread prepares a batch (`take`), a second thread runs the network on it
    and writes the answer (`finish`). ONNX Runtime releases the GIL, so the network runs on a free
    core while the next batch is prepared.
    """

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.network: OnnxRuntimeBackend | None = None  # called from the finishing thread only, once loaded

    def take(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        """A message from the server -> its work done up to the network: a job for `finish`."""
        if message[0] == "network":
            return ("network", self.load_network(*message[1:]))
        _, batch_id, files, infer = message
        return ("batch", batch_id, [outcome(data, self.max_pixels) for data in files], infer)

    def finish(self, job: tuple[Any, ...]) -> tuple[Any, ...]:
        """A job -> the answer to write."""
        if job[0] == "network":
            return job
        _, batch_id, results, infer = job
        logits, seconds = self.infer(self.network, results) if infer and self.network else (None, 0.0)
        return ("batch", batch_id, results, logits, seconds)

    def load_network(self, onnx_model: bytes, threads: int, probe: np.ndarray) -> bytes | str:
        try:
            self.network = OnnxRuntimeBackend(onnx_model, threads)
            return self.network.predict_logits(probe).tobytes()
        except Exception as exc:  # the server then runs the network itself
            self.network = None
            return f"{type(exc).__name__}: {exc}"

    @staticmethod
    def infer(network: OnnxRuntimeBackend, results: list[tuple[Any, ...]]) -> tuple[bytes | None, float]:
        ok = [r[1] for r in results if r[0] == "ok"]
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


def finish_all(worker: Worker, jobs: queue.Queue[tuple[Any, ...] | None], stdout: BinaryIO) -> None:
    """The second stage: network and answer for each job, in order, until None."""
    while (job := jobs.get()) is not None:
        write_frame(stdout, pickle.dumps(worker.finish(job), protocol=pickle.HIGHEST_PROTOCOL))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    worker = Worker(int(sys.argv[1]))
    set_pixel_limit(worker.max_pixels)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only; a stray print must not corrupt them
    sys.setswitchinterval(0.001)  # the finishing thread gets the GIL back soon after the network ran
    gc.collect()
    gc.freeze()  # as in the server: no full collection scans the imported modules' objects
    write_frame(stdout, READY)
    jobs: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=2)
    finisher = threading.Thread(target=finish_all, args=(worker, jobs, stdout), name="finish", daemon=True)
    finisher.start()
    while (payload := read_frame(stdin)) is not None:
        jobs.put(worker.take(pickle.loads(payload)))  # from the parent only: it pickles our own tuples
    jobs.put(None)
    finisher.join()


if __name__ == "__main__":
    main()
