"""The child process of `app.prepare_pool`: decodes uploads and brings them to MNIST form.

`python -m app.prepare_worker MAX_PIXELS`. It reads frames from stdin, each a pickled
`(batch_id, [upload bytes, ...])`, and writes one frame per batch to stdout, a pickled
`(batch_id, [outcome, ...])` where an outcome is `("ok", 784 pixel bytes, decode s, preprocess s)`,
`("error", exception class name, message)` for a client error, or `("bug", text)`. A frame is a
4-byte big-endian length, then that many bytes. EOF on stdin ends the process. It never imports
paddle or FastAPI (~40 MB, ~0.3 s to start).
"""

from __future__ import annotations

import gc
import pickle
import signal
import struct
import sys
import traceback
from typing import Any, BinaryIO

FRAME = struct.Struct(">I")
READY = b"ready"


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(FRAME.pack(len(payload)))
    stream.write(payload)
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
    from app.errors import ServiceError
    from app.predictors.preprocess import prepare_upload

    try:
        pixels, decode_s, preprocess_s = prepare_upload(data, max_pixels)
    except ServiceError as exc:
        return ("error", type(exc).__name__, exc.message)
    except Exception as exc:  # a bug, not the client's fault: the parent answers 500 and logs it
        traceback.print_exc(file=sys.stderr)
        return ("bug", f"{type(exc).__name__}: {exc}")
    return ("ok", pixels.tobytes(), decode_s, preprocess_s)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    from app.predictors.preprocess import set_pixel_limit

    max_pixels = int(sys.argv[1])
    set_pixel_limit(max_pixels)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only; a stray print must not corrupt them
    gc.collect()
    gc.freeze()  # as in the server: no full collection scans the imported modules' objects
    write_frame(stdout, READY)
    while (payload := read_frame(stdin)) is not None:
        batch_id, files = pickle.loads(payload)  # from the parent only: it pickles our own tuples
        results = [outcome(data, max_pixels) for data in files]
        write_frame(stdout, pickle.dumps((batch_id, results), protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main()
