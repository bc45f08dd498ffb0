"""uvicorn's httptools protocol, stamping each request with the time its first byte was parsed.

Under overload most of a request's wait is not in the app: it is the event loop's queue of tasks
uvicorn has created but not yet run (the price route never yields, so nothing waits inside the app).
The stamp lets admission (`app.admission`) see that wait and refuse a request that already waited
past its deadline. Without it (another server, TestClient) admission counts from the app's entry.

It also refuses early: a request the app's `state.refuse_early` (`app.middleware.EarlyRefusal`) turns
away is answered 503 from here, right after its headers, with no request cycle and no ASGI task:
under overload most requests are refused, and a refusal then costs a fraction of what it costs
through the app.

Its keep-alive timer is armed once per idle spell, not once per answer: uvicorn cancels the timer when
data arrives and arms a new one after each answer, and under uvloop each of those is a libuv timer
made and closed, about 1.2 µs a request (an eighth of an early refusal's Python). Here an answer only
notes the time; the timer, when it fires, closes the connection if it has been idle that long and
otherwise waits for the rest. Same rule as uvicorn's: closed after `timeout_keep_alive` s with no request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# app.middleware.EarlyRefusal: (header lines, body, whether the lines hold `connection: close`) or None
Refuse = Callable[[Any], "tuple[bytes, bytes, bool] | None"]

EXTENSION = "paddle_serve"  # scope["extensions"][EXTENSION]["arrived"]: time.monotonic() at the first byte
PROTOCOL = "app.protocol:StampedHttpToolsProtocol"  # for uvicorn's `http=` / `--http`


class StampedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose scopes carry the arrival time (one clock read per request)."""

    _refuse: Refuse | None = None
    _defaults: tuple[list[tuple[bytes, bytes]], bytes] | None = None  # shared: one server state
    _idle_since: float | None = None  # loop.time() of the last answer; None while a request is open

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refuse = _refuse_early(self.app)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)

    def _unset_keepalive_if_required(self) -> None:  # uvicorn calls it when data arrives
        self._idle_since = None

    def on_response_complete(self) -> None:
        """uvicorn's, but the keep-alive timer stays armed: the answer only notes when it went idle."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # pipelined requests: the next one starts, the connection stays busy
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:  # a request is open: its answer arms the timer again
            return
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {EXTENSION: {"arrived": time.monotonic()}}

    def on_headers_complete(self) -> None:
        if not self._refused_on_arrival():
            super().on_headers_complete()

    def _refused_on_arrival(self) -> bool:
        """Answer 503 if `state.refuse_early` turns this request away, before uvicorn makes its cycle.

        Only a plain request that would start now: not one pipelined behind a request in work (its
        answer would overtake), not an upgrade, not a path with escapes, not under uvicorn's own
        `limit_concurrency`. Those take uvicorn's path, and the app's admission refuses them there.
        """
        if self._refuse is None or self.limit_concurrency is not None or self.parser.should_upgrade():
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False
        raw_path = httptools.parse_url(self.url).path
        if b"%" in raw_path:
            return False
        scope = self.scope  # uvicorn fills the same two keys the same way when it goes on
        scope["method"] = self.parser.get_method().decode("ascii")
        scope["path"] = self.root_path + raw_path.decode("ascii")
        refusal = self._refuse(scope)
        if refusal is None:
            return False
        head, body, closes = refusal
        close = closes or self.parser.get_http_version() == "1.0" or not self.parser.should_keep_alive()
        ending = b"connection: close\r\n\r\n" if close and not closes else b"\r\n"
        self.transport.write(b"".join((STATUS_LINE[503], self._default_lines(), head, ending, body)))
        self.cycle = _ANSWERED  # type: ignore[assignment]  # its body, when it comes, is skipped
        if close:
            self.transport.close()
        self.on_response_complete()
        return True

    def _default_lines(self) -> bytes:
        """uvicorn's default headers (date, server) as lines, rendered again when uvicorn renews them."""
        headers = self.server_state.default_headers  # a new list every second (the date)
        if self._defaults is None or self._defaults[0] is not headers:
            StampedHttpToolsProtocol._defaults = (headers, b"".join(b"%b: %b\r\n" % h for h in headers))
        assert self._defaults is not None
        return self._defaults[1]


class _Answered:
    """What `cycle` holds after a refusal on arrival: a finished request, so uvicorn skips its body."""

    response_complete = True
    keep_alive = False
    message_event = asyncio.Event()  # uvicorn sets it when the connection is lost; nobody waits on it


_ANSWERED = _Answered()


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
