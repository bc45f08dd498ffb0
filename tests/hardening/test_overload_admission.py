"""Admission control in a real server process (`python -m app`, the stamped protocol), forced overload.

Every route class is limited to one request in work and one waiting. A raw socket that sends its
headers and half its body holds a class's one slot for as long as the test wants, so the overload
is certain and no assertion depends on timing: the rest of that class is refused 503 `overloaded`
with `Retry-After` (a body never sent is never waited for), the other class and the probes are
served, and what is served is the same answer as on an idle server. A refused request's unread
body is skipped on its connection when small, and the connection closed when large.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scripts.live_server import LiveServer, free_port
from tests.hardening.fixture_models import write_models
from tests.hardening.hostile_payloads import digit_image, encode
from tests.hardening.test_model_faults import PRICE

BOUNDARY = "admissionboundary"
PRICE_BODY = json.dumps(PRICE).encode()
DIGIT_PNG = encode(digit_image(), "PNG")
DIGIT_BODY = (
    (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="7.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    + DIGIT_PNG
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)
ROUTES = {  # route class -> (path, body, content type)
    "price": ("/predict/price", PRICE_BODY, "application/json"),
    "digit": ("/predict/digit", DIGIT_BODY, f"multipart/form-data; boundary={BOUNDARY}"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = write_models(tmp_path_factory.mktemp("admission-models"))
    env = {
        "PADDLE_SERVE_MODELS_DIR": str(models),
        "PADDLE_SERVE_PRICE_IN_FLIGHT": "1",
        "PADDLE_SERVE_DIGIT_IN_FLIGHT": "1",
        "PADDLE_SERVE_ADMISSION_WAITING": "1",
        "PADDLE_SERVE_QUEUE_DEADLINE_S": "1.5",
        "PADDLE_SERVE_PROBE_PORT": str(free_port()),
    }
    with LiveServer(env, log_path=tmp_path_factory.mktemp("admission-log") / "server.log") as live:
        yield live


@pytest.fixture(scope="module")
def idle_answers(server: LiveServer) -> dict[str, Any]:
    """Each route's answer on the idle server: what every served answer must equal."""
    return {name: send(server, name).json() for name in ROUTES}


def send(server: LiveServer, name: str) -> httpx.Response:
    path, body, content_type = ROUTES[name]
    return httpx.post(server.url + path, content=body, headers={"content-type": content_type}, timeout=30)


def request_head(name: str, length: int | None = None) -> bytes:
    path, body, content_type = ROUTES[name]
    length = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


class Holder:
    """A request of route class `name` admitted and mid-body: it holds the class's one slot."""

    def __init__(self, server: LiveServer, name: str) -> None:
        self.server, self.name = server, name
        self.body = ROUTES[name][1]
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.sendall(request_head(name) + self.body[:10])
        wait_for_metric(server, f'admission_in_flight{{route_class="{name}"}} 1.0')

    def finish(self) -> httpx.Response:
        """Send the rest of the body; the answer, as an httpx.Response for json()."""
        self.sock.sendall(self.body[10:])
        status, headers, body = read_response(self.sock)
        self.sock.close()
        return httpx.Response(status, headers=headers, content=body)


def metrics(server: LiveServer) -> str:
    return httpx.get(server.url + "/metrics", timeout=10).text


def wait_for_metric(server: LiveServer, line: str) -> None:
    deadline = time.monotonic() + 20
    while line not in metrics(server):
        assert time.monotonic() < deadline, f"never saw {line!r}"
        time.sleep(0.02)


def assert_shed(response: httpx.Response, name: str, reason: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "overloaded" and error["status"] == 503
    assert error["details"] == [{"route_class": name, "reason": reason}]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["request_id"] == response.headers["x-request-id"]


def assert_never_shed(server: LiveServer) -> None:
    for path in ("/livez", "/readyz", "/health", "/metrics"):
        assert httpx.get(server.url + path, timeout=10).status_code == 200, path
    probes = f"http://127.0.0.1:{server.env['PADDLE_SERVE_PROBE_PORT']}"
    for path in ("/livez", "/readyz"):  # the probe port (app/probes.py) too
        assert httpx.get(probes + path, timeout=10).status_code == 200, path


@pytest.mark.parametrize("name", list(ROUTES))
def test_a_full_class_is_shed_before_the_body_and_others_are_served(
    server: LiveServer, idle_answers: dict[str, Any], name: str
) -> None:
    other = "digit" if name == "price" else "price"
    holder = Holder(server, name)
    waiter = httpx.AsyncClient(base_url=server.url, timeout=30)

    async def wait_then_refused() -> httpx.Response:  # takes the one waiting place, then its deadline
        path, body, content_type = ROUTES[name]
        async with waiter:
            return await waiter.post(path, content=body, headers={"content-type": content_type})

    async def scenario() -> tuple[httpx.Response, list[httpx.Response]]:
        waiting = asyncio.create_task(wait_then_refused())
        line = f'admission_waiting{{route_class="{name}"}} 1.0'
        while line not in await asyncio.to_thread(metrics, server):
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            path, body, content_type = ROUTES[name]
            headers = {"content-type": content_type}
            calls = [client.post(path, content=body, headers=headers) for _ in range(8)]
            burst = list(await asyncio.gather(*calls))
        return await waiting, burst

    waited, burst = asyncio.run(scenario())
    for response in burst:
        assert_shed(response, name, "limit")
    assert_shed(waited, name, "deadline")

    # Headers only, a large body that never comes: answered at once, and the connection closed.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_head(name, length=100_000))
        status, headers, _ = read_response(sock)
        assert status == 503 and headers["connection"] == "close"
        assert sock.recv(1) == b""
    # A small body, unread, is skipped: the connection stays open and its next request is served.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_head(name) + ROUTES[name][1])
        status, headers, _ = read_response(sock)
        assert status == 503 and "connection" not in headers
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(sock)[::2] == (200, b'{"status":"ok"}')
    # The same in one packet with the next request behind it: the refusal, then the next answer.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_head(name) + ROUTES[name][1] + b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        data = b""
        while not data.endswith(b'{"status":"ok"}'):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed: {data!r}"
            data += chunk
        assert data.startswith(b"HTTP/1.1 503 ") and data.count(b"HTTP/1.1 200 OK\r\n") == 1
    # A client expecting `100 Continue` may never send its body: refused on arrival or by the app
    # (a browser's Origin), the connection is closed rather than the next request read as body.
    for extra in (b"", b"Origin: http://page.example\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                request_head(name).replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n" + extra + b"\r\n")
            )
            status, headers, _ = read_response(sock)
            assert status == 503 and headers["connection"] == "close"
            assert sock.recv(1) == b""
    # HTTP/1.0 does not keep the connection: the refusal says so and closes it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_head(name).replace(b"HTTP/1.1", b"HTTP/1.0", 1) + ROUTES[name][1])
        status, headers, _ = read_response(sock)
        assert status == 503 and headers["connection"] == "close"
        assert sock.recv(1) == b""

    assert_never_shed(server)
    assert send(server, other).json() == idle_answers[other]  # the other class is not affected
    finished = holder.finish()
    assert finished.status_code == 200 and finished.json() == idle_answers[name]
    assert send(server, name).json() == idle_answers[name]  # served again once the slot is free
    text = metrics(server)
    assert f'admission_rejected_total{{reason="limit",route_class="{name}"}}' in text
    assert f'admission_queue_wait_seconds_count{{route_class="{name}"}}' in text


def test_a_refusal_on_arrival_keeps_the_request_id_counts_and_gives_browsers_cors(
    server: LiveServer, idle_answers: dict[str, Any]
) -> None:
    """Refused right after its headers (`app.protocol`, no task): the same answer as the app's."""
    holder = Holder(server, "price")
    path, body, content_type = ROUTES["price"]

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            headers = {"content-type": content_type}
            waiting = asyncio.create_task(client.post(path, content=body, headers=headers))
            line = 'admission_waiting{route_class="price"} 1.0'
            while line not in await asyncio.to_thread(metrics, server):
                await asyncio.sleep(0.02)
            plain = await client.post(path, content=body, headers={"content-type": content_type})
            named = await client.post(
                path, content=body, headers={"content-type": content_type, "x-request-id": "client-id-7"}
            )
            browser = await client.post(
                path, content=body, headers={"content-type": content_type, "origin": "http://page.example"}
            )
            holder.finish()
            return [plain, named, browser, await waiting]

    before, logged_before = metrics(server), server.log().count("POST /predict/price 503")
    plain, named, browser, waited = asyncio.run(scenario())
    for response in (plain, named, browser):
        assert_shed(response, "price", "limit")
    assert named.headers["x-request-id"] == "client-id-7" == named.json()["request_id"]
    assert plain.headers["x-request-id"] != "client-id-7"
    assert "access-control-allow-origin" not in plain.headers
    assert browser.headers["access-control-allow-origin"] == "*"  # the app's path, with CORS
    assert waited.status_code == 200 and waited.json() == idle_answers["price"]

    def refused_total(text: str) -> float:
        key = 'http_requests_total{method="POST",route="/predict/price",status="503"} '
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(key))

    assert refused_total(metrics(server)) - refused_total(before) == 3
    # Only the browser's went through the app (the access log); the others were refused on arrival.
    assert server.log().count("POST /predict/price 503") - logged_before == 1


def test_a_waiter_gets_the_freed_slot_and_a_correct_answer(
    server: LiveServer, idle_answers: dict[str, Any]
) -> None:
    holder = Holder(server, "price")
    results: list[httpx.Response] = []

    async def scenario() -> None:
        waiting = asyncio.create_task(asyncio.to_thread(send, server, "price"))
        wait_line = 'admission_waiting{route_class="price"} 1.0'
        while wait_line not in await asyncio.to_thread(metrics, server):
            await asyncio.sleep(0.02)
        results.append(await asyncio.to_thread(holder.finish))
        results.append(await waiting)

    asyncio.run(scenario())
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert all(r.json() == idle_answers["price"] for r in results)


def test_a_burst_gets_correct_answers_or_clean_refusals(
    server: LiveServer, idle_answers: dict[str, Any]
) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            calls = []
            for name in ("price", "digit") * 16:
                path, body, content_type = ROUTES[name]
                calls.append(client.post(path, content=body, headers={"content-type": content_type}))
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(burst())
    for name, response in zip(("price", "digit") * 16, responses, strict=True):
        if response.status_code == 200:
            assert response.json() == idle_answers[name]
        else:
            assert response.status_code == 503 and response.json()["error"]["code"] == "overloaded"
            assert int(response.headers["retry-after"]) >= 1
    assert_never_shed(server)
    assert "Traceback" not in server.log()


def test_the_v2_infer_routes_share_their_models_class_and_are_shed_in_the_v2_shape(
    server: LiveServer,
) -> None:
    """A held price slot sheds `/v2/models/boston/infer` too (503, Retry-After, `{"error": "..."}`);
    `/v2/models/mnist/infer`, in the digit class, is served meanwhile."""
    features = {"name": "features", "shape": [1, 13], "datatype": "FP64", "data": list(PRICE.values())}
    pixels = {"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}
    boston, mnist = server.url + "/v2/models/boston/infer", server.url + "/v2/models/mnist/infer"
    idle = httpx.post(boston, json={"inputs": [features]}, timeout=30)
    assert idle.status_code == 200, idle.text
    holder = Holder(server, "price")

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            waiting = asyncio.create_task(client.post(boston, json={"inputs": [features]}))
            line = 'admission_waiting{route_class="price"} 1.0'
            while line not in await asyncio.to_thread(metrics, server):
                await asyncio.sleep(0.02)
            burst = [client.post(boston, json={"inputs": [features]}) for _ in range(4)]
            shed = list(await asyncio.gather(*burst))
            other = await client.post(mnist, json={"inputs": [pixels]})
            holder.finish()
            return [*shed, other, await waiting]

    *shed, other, waited = asyncio.run(scenario())
    for response in shed:
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        assert set(response.json()) == {"error"} and "price" in response.json()["error"]
    assert other.status_code == 200 and other.json()["model_name"] == "mnist"
    assert waited.status_code == 200 and waited.json()["outputs"] == idle.json()["outputs"]
