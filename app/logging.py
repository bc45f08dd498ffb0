"""Request ids in every log line: a context variable, a logging filter and the log configuration."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
HANDLER_NAME = "paddle-serve"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str:
    """The id of the request being handled in this context, or "-" outside a request."""
    return _request_id.get()


def set_request_id(incoming: str | None) -> str:
    """Use the client's X-Request-ID when it is a plain token, else a fresh one; returns the id."""
    rid = incoming if incoming and _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
    _request_id.set(rid)
    return rid


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record so the format can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def configure_logging(level: str) -> None:
    """Send the service's and uvicorn's logs through one handler that shows the request id."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.set_name(HANDLER_NAME)
    for name in ("app", "models", "uvicorn", "uvicorn.error"):
        log = logging.getLogger(name)
        # Replace uvicorn's handlers and our own from an earlier app; keep others (e.g. pytest's).
        log.handlers = [h for h in log.handlers if h.get_name() not in (HANDLER_NAME, "default")]
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(level.upper())
    # The service writes its own access log (app.access) with the request id; silence uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
