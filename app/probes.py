"""/livez and /readyz on a port of their own (`PROBE_PORT`), answered by a thread, not the event loop.

Under overload the event loop runs long stretches of request work between two looks at its sockets
(hundreds of milliseconds at 1,024 connections), and a probe on the service port waits its turn:
a kubelet's 1 s timeout then fails a pod that is only busy, and restarting it pushes its load onto
the others. This listener's thread needs only the interpreter lock, which a busy loop hands over
every few milliseconds, so its answers stay fast whatever the load.

It still tells the truth about the loop: a heartbeat callback on the loop stamps the time every
HEARTBEAT_S, and /livez answers 503 when the loop has not run it for `stall_s` (stuck, not busy).
/readyz is the service's readiness (every model loaded and warmed), as on the service port. With
several workers each binds the port with SO_REUSEPORT, so a probe reaches one of them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.registry import Registry

HEARTBEAT_S = 0.1


class ProbeServer:
    """One worker's probe listener: start() in the lifespan, before the models load; stop() at its end."""

    def __init__(self, registry: Registry, host: str, port: int, stall_s: float) -> None:
        self.registry, self.stall_s = registry, stall_s
        self.beat = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._server = _Server((host, port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="probes", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def live(self) -> tuple[int, bytes]:
        stalled = time.monotonic() - self.beat
        if stalled > self.stall_s:
            return 503, f'{{"status":"stalled","event_loop_silent_s":{stalled:.1f}}}'.encode()
        return 200, b'{"status":"ok"}'

    def v2_live(self) -> tuple[int, bytes]:
        status, _ = self.live()
        return status, b'{"live":true}' if status == 200 else b'{"live":false}'

    def ready(self) -> tuple[int, bytes]:
        try:
            ready = self.registry.ready  # read from this thread while the loop may be changing it
        except RuntimeError:  # a dict changed size while read (start-up): not ready yet
            ready = False
        return (200, b'{"ready":true}') if ready else (503, b'{"ready":false}')

    def start(self) -> None:
        self._heartbeat(asyncio.get_running_loop())
        self._thread.start()

    def _heartbeat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beat = time.monotonic()
        self._timer = loop.call_later(HEARTBEAT_S, self._heartbeat, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    allow_reuse_port = True  # one listener per worker process on the same port
    daemon_threads = True


def _handler(probes: ProbeServer) -> type[BaseHTTPRequestHandler]:
    routes = {
        "/livez": probes.live,
        "/readyz": probes.ready,
        "/v2/health/live": probes.v2_live,  # the Open Inference Protocol's, for KServe's probes
        "/v2/health/ready": probes.ready,  # already the protocol's shape
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body = route() if route is not None else (404, b'{"status":"not_found"}')
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes are not access-logged (as on the service port)

    return Handler
