"""One pure-ASGI middleware: request id, body-size limit, admission, metrics, access log, the 500 fallback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.admission import LIMIT, Admission, Gate
from app.auth import inference_refusal
from app.errors import Overloaded, PayloadTooLarge, ServiceError, error_body
from app.logging import request_id_for, set_request_id
from app.metrics import CounterSeries, HistogramSeries, Metrics
from app.protocol import EXTENSION

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("app.access")
QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
ACCESS = "%s %s %d %.1f ms"
SKIPPED_BODY = 64 * 1024  # bytes: the largest unread body of a refused request kept on its connection


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


_UNSURE_BODY = (b"transfer-encoding", b"expect")  # headers after which an unread body is not skipped


def _must_close(scope: Scope) -> bool:
    """Whether a refused request's unread body calls for closing its connection.

    The stamped protocol (httptools) skips the unread body of an answered request and parses the
    next one; a body of at most SKIPPED_BODY bytes is cheaper skipped than a new connection (a
    refusal costs about 2x less). A larger or chunked body, or another server: close. So does a
    request that expects `100 Continue`: its client may never send the body it announced, and
    the next request would then be skipped as that body.
    """
    length, unsure = None, False
    for key, value in scope["headers"]:
        if key in _UNSURE_BODY:
            unsure = True
        elif key == b"content-length":
            length = value
    return _body_closes(length, unsure, EXTENSION in scope.get("extensions", {}))


def _body_closes(length: bytes | None, unsure: bool, stamped: bool) -> bool:
    """`_must_close` from the request's content-length and whether it is chunked or expects 100."""
    if unsure:
        return True
    return length is not None and not (stamped and length.strip().isdigit() and int(length) <= SKIPPED_BODY)


Refusal = tuple[list[tuple[bytes, bytes]], bytes]  # an error response's headers and body
# EarlyRefusal's answer for app.protocol: header lines as bytes, the body, whether they close
Rendered = tuple[bytes, bytes, bool]
# EarlyRefusal's rendered answer: header lines but the length and id, the body before and after the
# id (None after: a v2 body carries no request id), whether the headers close the connection, and
# the refusal's metrics: its request count, its latency histogram, its admission refusal count
_Template = tuple[bytes, bytes, bytes | None, bool, CounterSeries, HistogramSeries, Callable[[], None]]
_RID_MARK = "@@request-id@@"  # never a real id: logging accepts only [A-Za-z0-9._:-] from clients


def refusal(
    admission: Admission, gate: Gate, reason: str, scope: Scope, request_id: str | None = None
) -> Refusal:
    """The 503 `overloaded` for a request of `gate` refused for `reason`, its body unread.

    Retry-After, and `Connection: close` when the unread body would stand in front of the next
    request; the request id in the body is this context's unless given.
    """
    error = Overloaded.retry_within(admission.message(gate, reason), admission.deadline_s)
    error.details = [{"route_class": gate.name, "reason": reason}]
    headers, body = _rendered(error, scope["path"], request_id)
    if _must_close(scope):
        headers.append((b"connection", b"close"))
    return headers, body


class EarlyRefusal:
    """The 503 for a request refused on arrival, built before any task exists (`app.protocol` calls it).

    A POST to a route class whose slots and waiting room are all taken is refused right after its
    headers are parsed: no ASGI task, no middleware, its body never read (skipped on a kept
    connection). The answer is the one `ServiceMiddleware` gives, counted in the same metrics, but
    not written to the access log one line per refusal (under overload that is thousands a second).
    A request with an `Origin` header takes the usual path, so that the browser sees CORS headers.
    """

    def __init__(self, admission: Admission, metrics: Metrics) -> None:
        self.admission, self.metrics = admission, metrics
        self._rendered: dict[tuple[str, int, int, bool], _Template] = {}

    def __call__(self, scope: Scope) -> Rendered | None:
        gate = self.admission.gate_for(scope["path"])
        if gate is None or scope["method"] != "POST" or not self.admission.room_full(gate):
            return None
        incoming = length = None
        unsure = False
        for key, value in scope["headers"]:  # one pass: the headers a refusal depends on
            if key == b"origin":
                return None
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
            elif key == b"content-length":
                length = value
            elif key in _UNSURE_BODY:
                unsure = True
        stamped = EXTENSION in scope.get("extensions", {})
        template = self._template(gate, scope, _body_closes(length, unsure, stamped))
        head, prefix, suffix, close, count, latency, refused = template
        refused()
        rid = request_id_for(incoming).encode()
        body = prefix + rid + suffix if suffix is not None else prefix
        count.inc()
        arrived = scope["extensions"][EXTENSION].get("arrived") if stamped else None
        latency.observe(time.monotonic() - arrived if arrived is not None else 0.0)
        return b"%bcontent-length: %d\r\nx-request-id: %b\r\n" % (head, len(body), rid), body, close

    def _template(self, gate: Gate, scope: Scope, closes: bool) -> _Template:
        """`refusal()`'s answer for this path and gate state, rendered once, the request id left out.

        While a class sheds, its refusals are all alike (the same message: every slot and the room
        taken); rendering the error each time took 2.5 of a price refusal's ~25 µs (this call
        7.5 -> 5.0 µs), whose target is a tenth of a served price (~0.2 ms). Few keys in practice;
        the cache is emptied past 64.
        """
        key = (scope["path"], gate.in_flight, gate.waiting, closes)
        template = self._rendered.get(key)
        if template is None:
            if len(self._rendered) >= 64:  # v2 paths carry a client-chosen version segment
                self._rendered.clear()
            headers, body = refusal(self.admission, gate, LIMIT, scope, _RID_MARK)
            prefix, mark, suffix = body.partition(_RID_MARK.encode())
            head = b"".join(b"%b: %b\r\n" % (k, v) for k, v in headers if k != b"content-length")
            close = (b"connection", b"close") in headers
            series = self.metrics.request_series(self.admission.route_label(scope["path"]), "POST", 503)
            refused = self.admission.refusals(gate, LIMIT)
            template = self._rendered[key] = (head, prefix, suffix if mark else None, close, *series, refused)
        return template


class ServiceMiddleware:
    """Wraps every HTTP request; `body_limit(path)` gives the largest body a path accepts.

    With `admission`, a request of a route class runs only once it holds a slot of its gate; a refused
    one is answered 503 `overloaded` at once, its body unread.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        body_limit: Callable[[str], int],
        access_log: bool = True,
        admission: Admission | None = None,
        api_tokens: tuple[bytes, ...] = (),
    ) -> None:
        self.app = app
        self.api_tokens = api_tokens
        self.metrics = metrics
        self.body_limit = body_limit
        self.access_log = access_log
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = set_request_id(_header(scope, b"x-request-id"))
        rid_header = (b"x-request-id", rid.encode())
        state = {"status": 500, "started": False}
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self._handle(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not state["started"]:
                await _send_error(send_with_id, ServiceError("internal server error"), scope["path"])
        finally:
            self.metrics.in_flight -= 1
            self._observe(scope, int(state["status"]), time.perf_counter() - start)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.body_limit(scope["path"])
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            message = f"request body of {int(length)} bytes is over the limit of {limit} bytes"
            await _send_error(send, PayloadTooLarge(message), scope["path"])
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
            return message

        gate = self.admission.gate_for(scope["path"]) if self.admission is not None else None
        if gate is None:
            await self.app(scope, limited_receive, send)
            return
        refused = inference_refusal(_header(scope, b"authorization"), self.api_tokens)
        if refused is not None:  # an inference route without a right token
            await _send_error(send, refused, scope["path"])
            return
        if await self._admitted(gate, scope, send):
            try:
                await self.app(scope, limited_receive, send)
            finally:
                gate.leave_soon()

    async def _admitted(self, gate: Gate, scope: Scope, send: Send) -> bool:
        """Enter `gate`, or answer 503 with Retry-After (and close the connection if a body is unread)."""
        assert self.admission is not None
        reason = await self.admission.enter(gate, scope)
        if reason is None:
            return True
        headers, body = refusal(self.admission, gate, reason, scope)
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return False

    def _route_label(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is not None:
            return str(path)
        if self.admission is not None and self.admission.gate_for(scope["path"]) is not None:
            return self.admission.route_label(scope["path"])  # refused before routing
        return "/static" if scope["path"].startswith("/static/") else "unmatched"

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        self.metrics.count_request(self._route_label(scope), method, status, seconds)
        if self.access_log and scope["path"] not in QUIET_PATHS and access_logger.isEnabledFor(logging.INFO):
            # makeRecord + handle skips logging's stack walk (findCaller), ~3x cheaper than .info().
            args = (method, scope["path"], status, seconds * 1000)
            record = access_logger.makeRecord(
                access_logger.name, logging.INFO, __file__, 0, ACCESS, args, None
            )
            access_logger.handle(record)


def _rendered(error: ServiceError, path: str, request_id: str | None = None) -> Refusal:
    """An error's response headers (its own, e.g. Retry-After, included) and JSON body."""
    body = error_body(error.status, error.code, error.message, error.details, request_id, path)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    return headers, body


async def _send_error(send: Send, error: ServiceError, path: str) -> None:
    headers, body = _rendered(error, path)
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
