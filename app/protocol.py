"""uvicorn's httptools protocol, stamping each request with the time its first byte was parsed.

Under overload most of a request's wait is not in the app: it is the event loop's queue of tasks
uvicorn has created but not yet run (the price route never yields, so nothing waits inside the app).
The stamp lets admission (`app.admission`) see that wait and refuse a request that already waited
past its deadline. Without it (another server, TestClient) admission counts from the app's entry.

It also refuses early: a request the app's `state.refuse_early` (`app.middleware.EarlyRefusal`) turns
away is answered 503 from here, right after its headers, with no ASGI task: under overload most
requests are refused, and a refusal then costs a fraction of what it costs through the app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

# app.middleware.EarlyRefusal: (header lines, body, whether the lines hold `connection: close`) or None
Refuse = Callable[[Any], "tuple[bytes, bytes, bool] | None"]

EXTENSION = "paddle_serve"  # scope["extensions"][EXTENSION]["arrived"]: time.monotonic() at the first byte
PROTOCOL = "app.protocol:StampedHttpToolsProtocol"  # for uvicorn's `http=` / `--http`


class StampedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose scopes carry the arrival time (one clock read per request)."""

    _refuse: Refuse | None = None
    _defaults: tuple[list[tuple[bytes, bytes]], bytes] | None = None  # shared: one server state

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refuse = _refuse_early(self.app)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {EXTENSION: {"arrived": time.monotonic()}}

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        refusal = self._refuse(cycle.scope) if self._refuse is not None and app is self.app else None
        if refusal is None:
            super()._start_asgi_task(cycle, app)
            return
        head, body, closes = refusal
        close = closes or not cycle.keep_alive
        ending = b"connection: close\r\n\r\n" if close and not closes else b"\r\n"
        self.transport.write(b"".join((STATUS_LINE[503], self._default_lines(), head, ending, body)))
        cycle.response_started = cycle.response_complete = True  # its body, when it comes, is skipped
        cycle.message_event.set()
        if close:
            cycle.keep_alive = False
            self.transport.close()
        cycle.on_response()

    def _default_lines(self) -> bytes:
        """uvicorn's default headers (date, server) as lines, rendered again when uvicorn renews them."""
        headers = self.server_state.default_headers  # a new list every second (the date)
        if self._defaults is None or self._defaults[0] is not headers:
            StampedHttpToolsProtocol._defaults = (headers, b"".join(b"%b: %b\r\n" % h for h in headers))
        assert self._defaults is not None
        return self._defaults[1]


def _refuse_early(app: Any) -> Refuse | None:
    """The `state.refuse_early` of the application under uvicorn's wrappers, if it has one."""
    for _ in range(8):
        state = getattr(app, "state", None)
        refuse = getattr(state, "refuse_early", None) if state is not None else None
        if refuse is not None:
            return refuse
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
