"""`app.workers.worker` with faults on cue, for the pool's tests.

b"crash" kills it, b"slow" stalls it; b"detailed" raises a `ServiceError` subclass with details and
headers, b"unknown" one the server has never heard of, b"bug" a plain exception.
"""

from __future__ import annotations

import os
import time
from typing import Any

import app.workers.worker as worker
from app.errors import InvalidInput, ServiceError

real_prepare = worker.prepare_upload


class TeapotError(ServiceError):
    """Known only in this child: the server must answer it from the wire alone."""

    status, code = 418, "teapot"


FAULTS: dict[bytes, Exception] = {
    b"detailed": InvalidInput("bad stroke", [{"loc": ["files", 0], "msg": "too thin"}], {"X-Hint": "ink"}),
    b"unknown": TeapotError("short and stout", [{"spout": 1}], {"Retry-After": "7"}),
    b"bug": ZeroDivisionError("division by zero in the decoder"),
}


def prepare_upload(data: bytes, max_pixels: int) -> Any:
    if data == b"crash":
        os._exit(3)  # as a segfault in a decoder would: no answer, no clean-up
    if data == b"slow":
        time.sleep(2.0)
    if data in FAULTS:
        raise FAULTS[data]
    return real_prepare(data, max_pixels)


worker.prepare_upload = prepare_upload

if __name__ == "__main__":
    worker.main()
