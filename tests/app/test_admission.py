"""Admission gates in process: slots, the waiting room, hand-over in order, deadlines, cancellation.

No wall-clock assertions: deadlines here are either already past or far away.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from app.admission import DEADLINE, LIMIT, Admission, Gate, RouteClass, route_classes
from app.metrics import Metrics
from app.protocol import EXTENSION
from app.settings import Settings
from tests.app.conftest import drawn_digit_png, make_client
from tests.app.model_fixtures import ROW, expected_price
from tests.app.test_price_api import assert_error


def admission(limit: int = 1, waiting: int = 2, deadline_s: float = 30.0) -> tuple[Admission, Metrics]:
    metrics = Metrics()
    classes = [RouteClass("price", ("/predict/price",), limit), RouteClass("digit", ("/predict/digit",), 2)]
    return Admission(classes, waiting, deadline_s, metrics), metrics


def scope(arrived: float | None = None) -> dict[str, object]:
    return {} if arrived is None else {"extensions": {EXTENSION: {"arrived": arrived}}}


def test_only_route_class_paths_have_a_gate() -> None:
    a, _ = admission()
    assert a.gate_for("/predict/price") is a.gates["price"]
    assert a.gate_for("/predict/digit") is a.gates["digit"]
    for path in ("/livez", "/readyz", "/metrics", "/health", "/models", "/", "/predict/price/"):
        assert a.gate_for(path) is None


def test_v2_infer_routes_share_their_models_gate_and_label() -> None:
    metrics = Metrics()
    a = Admission(route_classes(Settings()), 2, 30.0, metrics)
    assert a.gate_for("/v2/models/boston/infer") is a.gates["price"]
    assert a.gate_for("/v2/models/mnist/versions/2.0.0/infer") is a.gates["digit"]
    for path in ("/v2/models/resnet/infer", "/v2/models/mnist", "/v2/health/ready", "/v2/models/mnist/ready"):
        assert a.gate_for(path) is None
    assert a.route_label("/v2/models/mnist/versions/x/infer") == "/v2/models/{name}/versions/{version}/infer"
    assert a.route_label("/v2/models/boston/infer") == "/v2/models/{name}/infer"


def test_slot_is_handed_to_the_oldest_waiter() -> None:
    async def run() -> list[str]:
        a, _ = admission(limit=1, waiting=2)
        gate = a.gates["price"]
        order: list[str] = []
        assert await a.enter(gate, scope()) is None  # the one slot

        async def waiter(name: str) -> None:
            assert await a.enter(gate, scope()) is None
            order.append(name)
            gate.leave()

        tasks = [asyncio.create_task(waiter(n)) for n in ("first", "second")]
        await asyncio.sleep(0)
        assert gate.waiting == 2 and gate.in_flight == 1
        assert await a.enter(gate, scope()) == LIMIT  # the waiting room is full
        gate.leave()
        await asyncio.gather(*tasks)
        assert gate.in_flight == 0 and gate.waiting == 0
        return order

    assert asyncio.run(run()) == ["first", "second"]


def test_past_deadline_is_refused_even_with_a_free_slot() -> None:
    async def run() -> None:
        a, metrics = admission(deadline_s=1.0)
        gate = a.gates["price"]
        assert await a.enter(gate, scope(arrived=time.monotonic() - 5.0)) == DEADLINE
        assert gate.in_flight == 0
        text = generate_latest(metrics.registry).decode()
        assert 'admission_rejected_total{reason="deadline",route_class="price"} 1.0' in text

    asyncio.run(run())


def test_a_waiter_times_out_and_leaves_the_room() -> None:
    async def run() -> None:
        a, _ = admission(limit=1, waiting=1, deadline_s=30.0)
        gate = a.gates["price"]
        assert gate.try_enter()
        assert await gate.wait(0.0) is False  # a deadline already over
        assert gate.waiting == 0 and gate.in_flight == 1
        gate.leave()
        assert gate.in_flight == 0

    asyncio.run(run())


def test_a_waiter_past_its_deadline_is_refused_at_hand_over() -> None:
    async def run() -> list[bool]:
        gate = Gate("price", 1)
        assert gate.try_enter()
        tasks = [asyncio.create_task(gate.wait(t)) for t in (0.01, 0.01, 30.0)]
        await asyncio.sleep(0)
        time.sleep(0.02)  # the loop is blocked: the two short deadlines pass before any timer runs
        gate.leave()  # the slot skips the two late waiters and goes to the third
        results = await asyncio.gather(*tasks)
        assert gate.in_flight == 1 and gate.waiting == 0
        gate.leave()
        assert gate.in_flight == 0
        return results

    assert asyncio.run(run()) == [False, False, True]


def test_a_cancelled_waiter_gives_back_what_it_held() -> None:
    async def run() -> None:
        gate = Gate("price", 1)
        assert gate.try_enter()
        task = asyncio.create_task(gate.wait(30.0))
        await asyncio.sleep(0)
        gate.leave()  # the slot goes to the waiter ...
        task.cancel()  # ... which is cancelled before it runs: the slot must come back
        await asyncio.gather(task, return_exceptions=True)
        assert gate.in_flight == 0 and gate.waiting == 0
        waiting = asyncio.create_task(gate.wait(30.0))  # a free gate: wait is only for the full case
        gate.in_flight = 1
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        assert gate.waiting == 0

    asyncio.run(run())


def test_one_loop_turn_starts_at_most_the_limit() -> None:
    """A slot comes back at the loop's next turn: requests that never yield cannot fill one turn."""

    async def run() -> None:
        a, _ = admission(limit=2, waiting=10)
        gate = a.gates["price"]
        started: list[int] = []

        async def request(n: int) -> None:  # a request whose work never yields, as a price
            assert await a.enter(gate, scope()) is None
            started.append(n)
            gate.leave_soon()

        tasks = [asyncio.create_task(request(n)) for n in range(5)]
        await asyncio.sleep(0)  # one turn: every task ran once
        assert started == [0, 1] and gate.waiting == 3 and gate.in_flight == 2
        await asyncio.gather(*tasks)
        assert started == [0, 1, 2, 3, 4]  # in arrival order
        await asyncio.sleep(0)
        assert gate.in_flight == 0 and gate.waiting == 0

    asyncio.run(run())


def test_metrics_show_limit_in_flight_and_wait() -> None:
    async def run() -> str:
        a, metrics = admission(limit=3)
        gate = a.gates["price"]
        assert await a.enter(gate, scope()) is None
        return generate_latest(metrics.registry).decode()

    text = asyncio.run(run())
    assert 'admission_limit{route_class="price"} 3.0' in text
    assert 'admission_in_flight{route_class="price"} 1.0' in text
    assert 'admission_waiting{route_class="digit"} 0.0' in text
    assert 'admission_queue_wait_seconds_count{route_class="price"} 1.0' in text


def test_digit_limit_follows_the_rule() -> None:
    assert Settings().digit_in_flight_limit == 2 * 32
    assert Settings(prepare_processes=0, batch_max_size=8).digit_in_flight_limit == 16
    assert Settings(prepare_processes=2).digit_in_flight_limit == 128
    assert Settings(digit_in_flight=5).digit_in_flight_limit == 5


def test_a_full_gate_is_503_before_the_body_and_health_is_never_shed(models_dir: Path) -> None:
    with make_client(models_dir, price_in_flight=1, admission_waiting=0) as client:
        gate = client.app.state.admission.gates["price"]  # type: ignore[attr-defined]
        gate.in_flight = 1  # as if a request held the one slot
        refused = client.post("/predict/price", json=ROW)
        error = assert_error(refused, 503, "price requests are at their limit")
        assert error["code"] == "overloaded"
        assert error["details"] == [{"route_class": "price", "reason": "limit"}]
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        for path in ("/livez", "/readyz", "/health", "/metrics", "/models"):
            assert client.get(path).status_code == 200, path
        assert client.post("/predict/price/batch", json={"instances": [ROW]}).status_code == 503
        assert client.post("/predict/digit", files={"file": ("7.png", drawn_digit_png())}).status_code == 200
        metrics = client.get("/metrics").text
        assert 'http_requests_total{method="POST",route="/predict/price",status="503"} 1.0' in metrics
        assert 'admission_rejected_total{reason="limit",route_class="price"} 2.0' in metrics
        v2 = {
            "inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP64", "data": list(ROW.values())}]
        }
        refused = client.post("/v2/models/boston/infer", json=v2)  # the v2 route shares the price class
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json() == {
            "error": "price requests are at their limit (1 in work, 0 waiting); retry later"
        }
        assert client.get("/v2/health/ready").status_code == 200
        gate.in_flight = 0  # the slot is free again: served, and right
        assert client.post("/v2/models/boston/infer", json=v2).status_code == 200
        body = client.post("/predict/price", json=ROW).json()
        assert body["price"] == pytest.approx(expected_price(ROW), abs=1e-9)
        assert gate.in_flight == 0


class _Transport:
    """Just enough of an asyncio transport for uvicorn's protocol to parse one request."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: object) -> None:
        pass


def test_the_stamped_protocol_gives_each_request_its_arrival_time() -> None:
    """`python -m app` runs this protocol: if uvicorn renamed its hook, the stamp would vanish silently."""
    import uvicorn
    from uvicorn.server import ServerState

    from app.protocol import PROTOCOL, StampedHttpToolsProtocol

    scopes: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        scopes.append(scope)

    async def run() -> float:
        config = uvicorn.Config(app, http=PROTOCOL, lifespan="off", log_level="critical")
        config.load()
        assert config.http_protocol_class is StampedHttpToolsProtocol
        protocol = StampedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        protocol.connection_made(_Transport())  # type: ignore[arg-type]
        before = time.monotonic()
        protocol.data_received(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.01)
        return before

    before = asyncio.run(run())
    assert len(scopes) == 1
    extensions = scopes[0]["extensions"]
    assert isinstance(extensions, dict)
    assert before <= extensions[EXTENSION]["arrived"] <= time.monotonic()


def test_keep_alive_closes_an_idle_connection_only() -> None:
    """The keep-alive timer, armed once per idle spell: a connection closes after `timeout_keep_alive`
    s with no request, not while requests keep coming, not while one is in work."""
    import uvicorn
    from uvicorn.server import ServerState

    from app.protocol import StampedHttpToolsProtocol

    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> list[tuple[str, bool]]:
        config = uvicorn.Config(app, lifespan="off", log_level="critical", timeout_keep_alive=1)
        config.load()
        config.timeout_keep_alive = 0.3  # type: ignore[assignment]  # seconds, short for the test
        transport = _Transport()
        protocol = StampedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        protocol.connection_made(transport)  # type: ignore[arg-type]
        seen = []
        for _ in range(6):  # a request every 0.1 s for 0.6 s: past the timeout, never idle that long
            protocol.data_received(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(0.1)
        seen.append(("busy with quick requests", transport.closed))
        protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.5)
        seen.append(("one request in work", transport.closed))
        release.set()
        await asyncio.sleep(0.15)
        seen.append(("idle for half the timeout", transport.closed))
        await asyncio.sleep(0.45)
        seen.append(("idle past the timeout", transport.closed))
        assert transport.written.count(b"HTTP/1.1 200 OK") == 7
        return seen

    assert asyncio.run(run()) == [
        ("busy with quick requests", False),
        ("one request in work", False),
        ("idle for half the timeout", False),
        ("idle past the timeout", True),
    ]


def test_a_refusal_on_arrival_carries_uvicorns_current_date() -> None:
    """The default headers are rendered once, and again when uvicorn renews them (a new list)."""
    import uvicorn
    from uvicorn.server import ServerState

    from app.protocol import StampedHttpToolsProtocol

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        pass

    async def run() -> list[bytes]:
        config = uvicorn.Config(app, lifespan="off", log_level="critical")
        config.load()
        state = ServerState()
        protocol = StampedHttpToolsProtocol(config=config, server_state=state, app_state={})
        lines = []
        for date in (b"first", b"second"):
            state.default_headers = [(b"date", date), (b"server", b"uvicorn")]  # as uvicorn's tick does
            lines.append(protocol._default_lines())
        return lines

    assert asyncio.run(run()) == [
        b"date: first\r\nserver: uvicorn\r\n",
        b"date: second\r\nserver: uvicorn\r\n",
    ]


def test_a_refusal_on_arrival_is_the_rendered_refusal_with_its_own_id_and_length() -> None:
    """EarlyRefusal renders each answer once and splices the id in: the same bytes as `refusal()`."""
    from app.middleware import EarlyRefusal, refusal

    settings = Settings(price_in_flight=1, digit_in_flight=1)
    a = Admission(route_classes(settings), 0, 1.0, Metrics())
    for each in a.gates.values():
        each.in_flight = 1
    early = EarlyRefusal(a, Metrics())
    cases = [
        ("/predict/price", [(b"content-length", b"100")]),
        ("/predict/price", [(b"content-length", b"100"), (b"x-request-id", b"client-7")]),
        ("/predict/price", [(b"x-request-id", b"a-much-longer-client-id-0123456789")]),
        ("/predict/price", [(b"content-length", b"999999")]),  # too big to skip: Connection: close
        ("/v2/models/mnist/infer", [(b"content-length", b"100")]),  # the v2 shape: no id in the body
    ]
    ids = []
    for path, headers in cases * 2:  # the second round is answered from the rendered templates
        s = {"path": path, "method": "POST", "headers": headers, "extensions": {EXTENSION: {"arrived": 0.0}}}
        got = early(s)
        assert got is not None
        head, body, closes = got
        got_headers = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")[:-1]]
        assert closes is ((b"connection", b"close") in got_headers)
        rid = dict(got_headers)[b"x-request-id"].decode()
        ids.append(rid)
        if (b"x-request-id", b"client-7") in headers:
            assert rid == "client-7"
        gate = a.gate_for(path)
        assert gate is not None
        want_headers, want_body = refusal(a, gate, LIMIT, s, rid)
        assert body == want_body
        assert sorted(got_headers) == sorted([*want_headers, (b"x-request-id", rid.encode())])
    assert len(set(ids)) == 2 * len(cases) - 2  # a fresh id each time, but for the two clients' own
    big = {"path": "/predict/price", "method": "POST", "headers": cases[3][1], "extensions": {EXTENSION: {}}}
    closed = early(big)
    assert closed is not None and closed[2] and b"\r\nconnection: close\r\n" in closed[0]  # as above
