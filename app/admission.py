"""Admission control: how many requests of each route class are in work, checked before the body is read.

Each route class (price, digit; the v2 infer routes of a model share its class) has a `Gate`: at most
`limit` requests in work at once, at most `max_waiting` more waiting in arrival order. A request
that finds the gate and its waiting room full, or that cannot start within `deadline_s` of its
first byte (`app.protocol` stamps it; else the app's entry), is refused with 503 `overloaded` before
any work is done on it: its body is never read, so it costs a few tens of microseconds, not the
parse and the queue a served request costs. Paths in no class (health, readiness, metrics, models,
the page) are never shed. A slot comes back at the event loop's next turn (`Gate.leave_soon`), so
that work which never yields (a price) cannot fill one turn of the loop.

The limits are fixed, chosen by a rule (README, "Overload"); `Gate.limit` is a plain attribute so
that an adaptive controller (AIMD on measured latency) can move it later.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from app.metrics import Metrics
from app.protocol import EXTENSION
from app.settings import Settings

LIMIT, DEADLINE = "limit", "deadline"  # why a request was refused (the metrics' `reason` label)
PRICE_PATHS = ("/predict/price", "/predict/price/batch")
DIGIT_PATHS = ("/predict/digit", "/predict/digit/batch")


V2_INFER = re.compile(r"/v2/models/([^/]+)(/versions/[^/]+)?/infer")


@dataclass(frozen=True)
class RouteClass:
    """Routes that share one in-flight bound: their exact paths, the models whose v2 infer routes
    belong to it (they use the same pipeline), and the bound."""

    name: str
    paths: tuple[str, ...]
    limit: int
    models: tuple[str, ...] = ()


def route_classes(settings: Settings) -> list[RouteClass]:
    """The service's route classes and their limits from the settings."""
    return [
        RouteClass("price", PRICE_PATHS, settings.price_in_flight, ("boston",)),
        RouteClass("digit", DIGIT_PATHS, settings.digit_in_flight_limit, ("mnist",)),
    ]


class Gate:
    """One route class's bound: `in_flight` requests in work (at most `limit`), the rest waiting in order.

    A freed slot passes straight to the oldest waiter, so `in_flight` never drops below the limit while
    someone waits.
    """

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self.in_flight = 0
        # (deadline, waiter), oldest first; a waiter that expires or is cancelled removes itself
        self._waiters: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._timer: asyncio.TimerHandle | None = None  # one, at the oldest waiter's deadline

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_enter(self) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a slot: True once it is handed over (the caller must `leave()`), False at the timeout.

        One timer per gate, not per waiter (under overload nearly every request waits): it fires at the
        oldest waiter's deadline and expires every waiter whose deadline is past.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append((loop.time() + timeout_s, waiter))
        if self._timer is None:
            self._arm(loop)
        try:
            return await waiter
        except asyncio.CancelledError:  # the request was cancelled (shutdown): give back a slot it got
            self._waiters = deque(entry for entry in self._waiters if entry[1] is not waiter)
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.leave()
            raise

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_at(self._waiters[0][0], self._expire) if self._waiters else None

    def _expire(self) -> None:
        """Refuse the oldest waiters while their deadline is past, then re-arm for the next one."""
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters and self._waiters[0][0] <= now:
            self._waiters.popleft()[1].set_result(False)
        self._arm(loop)

    def leave_soon(self) -> None:
        """`leave()` at the event loop's next turn, so that one turn starts at most `limit` requests.

        A price request never yields: without this, every request that arrived in one turn runs in
        the next (1,024 connections x 0.25 ms: a quarter of a second), and a probe or an accept waits
        behind them all. With it, a turn runs at most `limit`, and the rest wait here in order.
        """
        asyncio.get_running_loop().call_soon(self.leave)

    def leave(self) -> None:
        """A request of this class is done: its slot goes to the oldest waiter in time, or is freed."""
        if self._waiters and self._waiters[0][0] <= asyncio.get_running_loop().time():
            self._expire()  # a waiter past its deadline is refused, never started
        if self._waiters:
            self._waiters.popleft()[1].set_result(True)  # in_flight unchanged: the slot changes hands
        else:
            self.in_flight -= 1


class Admission:
    """The gates of every route class, the waiting room size and the queue deadline, with their metrics."""

    def __init__(
        self, classes: list[RouteClass], max_waiting: int, deadline_s: float, metrics: Metrics
    ) -> None:
        self.max_waiting, self.deadline_s = max_waiting, deadline_s
        self.gates = {c.name: Gate(c.name, c.limit) for c in classes}
        self._by_path = {path: self.gates[c.name] for c in classes for path in c.paths}
        self._by_model = {model: self.gates[c.name] for c in classes for model in c.models}
        self._wait = {name: metrics.queue_wait.labels(name) for name in self.gates}
        self._rejected = {
            (name, reason): metrics.admission_rejected.labels(name, reason)
            for name in self.gates
            for reason in (LIMIT, DEADLINE)
        }
        for name, gate in self.gates.items():  # read when /metrics is scraped: nothing per request
            metrics.admission_in_flight.labels(name).set_function(_reader(gate, "in_flight"))
            metrics.admission_waiting.labels(name).set_function(_reader(gate, "waiting"))
            metrics.admission_limit.labels(name).set_function(_reader(gate, "limit"))

    def gate_for(self, path: str) -> Gate | None:
        """The gate of the route class `path` belongs to; None: never shed."""
        gate = self._by_path.get(path)
        if gate is None and path.startswith("/v2/models/"):
            match = V2_INFER.fullmatch(path)
            gate = self._by_model.get(match.group(1)) if match else None
        return gate

    def route_label(self, path: str) -> str:
        """The route template of a path in a route class, for metrics (a bounded set of labels)."""
        if path in self._by_path:
            return path
        match = V2_INFER.fullmatch(path)
        if match is None:
            return path
        return "/v2/models/{name}/versions/{version}/infer" if match.group(2) else "/v2/models/{name}/infer"

    async def enter(self, gate: Gate, scope: Scope) -> str | None:
        """None once the request holds a slot of `gate` (the caller must `gate.leave()`), else why not."""
        now = time.monotonic()
        arrived = _arrived(scope, now)
        left = self.deadline_s - (now - arrived)
        if left <= 0:
            reason: str | None = DEADLINE
        elif gate.try_enter():
            reason = None
        elif self.room_full(gate):
            reason = LIMIT
        else:
            reason = None if await gate.wait(left) else DEADLINE
            now = time.monotonic()
        if reason is None:
            self._wait[gate.name].observe(now - arrived)
        else:
            self.count_refusal(gate, reason)
        return reason

    def room_full(self, gate: Gate) -> bool:
        """Whether a request arriving now is refused at once: every slot taken and the waiting room full."""
        return gate.in_flight >= gate.limit and gate.waiting >= self.max_waiting

    def count_refusal(self, gate: Gate, reason: str) -> None:
        """Count a request of `gate` refused for `reason` (by `enter`, or on arrival by the protocol)."""
        self._rejected[gate.name, reason].inc()

    def refusals(self, gate: Gate, reason: str) -> Callable[[], None]:
        """`count_refusal(gate, reason)` as one call, for a caller that keeps it."""
        return self._rejected[gate.name, reason].inc

    def message(self, gate: Gate, reason: str) -> str:
        """What a refused client reads."""
        if reason == LIMIT:
            return (
                f"{gate.name} requests are at their limit ({gate.in_flight} in work, "
                f"{gate.waiting} waiting); retry later"
            )
        return f"the {gate.name} request could not start within {self.deadline_s:g} s; retry later"


def _reader(gate: Gate, attribute: str) -> Callable[[], float]:
    return lambda: float(getattr(gate, attribute))


def _arrived(scope: Scope, default: float) -> float:
    """When the request's first byte was parsed (`app.protocol`), or `default` without the stamp."""
    extensions = scope.get("extensions")
    if isinstance(extensions, dict):
        stamp = extensions.get(EXTENSION)
        if isinstance(stamp, dict):
            return float(stamp.get("arrived", default))
    return default
