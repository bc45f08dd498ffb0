"""`python -m app`: uvicorn (uvloop, stamped httptools) with host, port, workers, log level from settings."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from app.protocol import PROTOCOL
from app.settings import Settings

WORKER_READY_TIMEOUT_S = 120


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown; end with status 0, not 'killed by signal'."""
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_zero)  # uvicorn keeps it as the handler to restore and re-raise
    settings = Settings()
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        loop="uvloop",
        http=PROTOCOL,  # httptools, with each request's arrival time for admission (app/protocol.py)
        access_log=False,
        # Longer than clients keep an idle connection (httpx: 5 s, uvicorn's own default too): with
        # equal timeouts a client may send on a connection the server is closing (a ReadError).
        timeout_keep_alive=settings.keep_alive_s,
        # With several workers, SIGHUP to this process replaces each worker in turn, the new one
        # serving before the old one stops; loading the models can take longer than uvicorn's 5 s
        # on a busy machine, and a replacement not ready in time aborts the whole restart.
        timeout_worker_healthcheck=WORKER_READY_TIMEOUT_S,
    )


if __name__ == "__main__":
    main()
