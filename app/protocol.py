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

Refuse = Callable[[Any], "tuple[list[tuple[bytes, bytes]], bytes] | None"]  # app.middleware.EarlyRefusal

EXTENSION = "paddle_serve"  # scope["extensions"][EXTENSION]["arrived"]: time.monotonic() at the first byte
PROTOCOL = "app.protocol:StampedHttpToolsProtocol"  # for uvicorn's `http=` / `--http`


class StampedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose scopes carry the arrival time (one clock read per request)."""

    _refuse: Refuse | None = None

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
        headers, body = refusal
        close = not cycle.keep_alive or (b"connection", b"close") in headers
        lines = [STATUS_LINE[503]]
        for name, value in [*self.server_state.default_headers, *headers]:
            lines.extend((name, b": ", value, b"\r\n"))
        if close and (b"connection", b"close") not in headers:
            lines.append(b"connection: close\r\n")
        lines.extend((b"\r\n", body))
        self.transport.write(b"".join(lines))
        cycle.response_started = cycle.response_complete = True  # its body, when it comes, is skipped
        cycle.message_event.set()
        if close:
            cycle.keep_alive = False
            self.transport.close()
        cycle.on_response()


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
