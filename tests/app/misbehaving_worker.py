"""`app.prepare_worker` with faults on cue, for the pool's tests: b"crash" kills it, b"slow" stalls it."""

from __future__ import annotations

import os
import time
from typing import Any

import app.prepare_worker as worker

real_outcome = worker.outcome


def outcome(data: bytes, max_pixels: int) -> tuple[Any, ...]:
    if data == b"crash":
        os._exit(3)  # as a segfault in a decoder would: no answer, no clean-up
    if data == b"slow":
        time.sleep(2.0)
    return real_outcome(data, max_pixels)


worker.outcome = outcome

if __name__ == "__main__":
    worker.main()
