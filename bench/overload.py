"""Overload curve: each route at 32 to 1,024 connections against `python -m app`, and what a rejection costs.

Per route and connection count: answered/s, goodput (2xx/s), rejected (503)/s, other errors, p50
and p99 of the 2xx answers, the slowest /livez and /readyz probe during the step, and the server's
CPU per answer (its whole process tree, from /proc). Then the cost of a rejection: a second server
with every route class limited to one request in work and none waiting, its one slot held by a
request sent half-way, so that every request of the load is refused; its CPU per 503 against the CPU
per 2xx of the curve's first step. Memory of the server before and after the curve.

The load generator is an asyncio HTTP/1.1 client in this process (wrk cannot split latencies by
status): it shares the machine's cores with the server, so say so beside the numbers. A connection
the server closes after a 503 (`Connection: close`) is opened again; that is not an error.

    python -m bench.overload                                          # 5 steps x 2 routes, 8 s each
    python -m bench.overload --routes v2_price,v2_digit               # the Open Inference Protocol's
    python -m bench.overload --steps 32 --duration 2 --warmup 0 --routes price   # smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.fixtures import digit_png, models_root, price_body, v2_image_body, v2_price_body
from bench.loadgen import multipart
from bench.servers import REPO, Server
from scripts.live_server import free_port, process_tree

DIGIT_BODY, DIGIT_TYPE = multipart("file", "digit.png", digit_png(), "image/png")
V2_IMAGE, V2_IMAGE_HEADER = v2_image_body()  # the same PNG, in Triton's binary tensor extension
# route: (path, body, content type, "Name: value" header lines to add)
ROUTES = {
    "price": ("/predict/price", price_body(), "application/json", ""),
    "digit": ("/predict/digit", DIGIT_BODY, DIGIT_TYPE, ""),
    "v2_price": ("/v2/models/boston/infer", v2_price_body(), "application/json", ""),
    "v2_digit": (
        "/v2/models/mnist/infer",
        V2_IMAGE,
        "application/octet-stream",
        f"Inference-Header-Content-Length: {V2_IMAGE_HEADER}\r\n",
    ),
}
STEPS = (32, 128, 256, 512, 1024)
PROBE_INTERVAL_S = 0.1
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    """What one step's connections saw before its end."""

    statuses: dict[int, int] = field(default_factory=dict)
    ok_latencies: list[float] = field(default_factory=list)  # seconds, 2xx only
    errors: int = 0  # connections that failed or were closed without an answer
    probes: list[float] = field(default_factory=list)  # seconds per /livez or /readyz (inf: failed)
    probe_port: list[float] = field(default_factory=list)  # the same on the probe port (PROBE_PORT)

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.ok_latencies.append(seconds)


def raw_request(path: str, body: bytes, content_type: str, port: int, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n{extra}"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection) of one answer with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = b"close" in value.lower()
    await reader.readexactly(length)
    return int(head[9:12]), close


async def connection(port: int, raw: bytes, end: float, tally: Tally) -> None:
    """Requests one after another until `end`; a new connection whenever the server closes one."""
    while time.perf_counter() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            tally.errors += 1
            await asyncio.sleep(0.01)
            continue
        try:
            close = False
            while not close and time.perf_counter() < end:
                t0 = time.perf_counter()
                writer.write(raw)
                status, close = await read_answer(reader)
                if time.perf_counter() < end:  # answers after the end are not counted
                    tally.record(status, time.perf_counter() - t0)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.errors += 1
        finally:
            writer.close()


def probe_process(ports: list[int], seconds: float, out: Connection) -> None:
    """/livez and /readyz on a fresh connection each, as a kubelet does, every PROBE_INTERVAL_S, per port.

    A process of its own, so that the load generator's busy event loop does not delay the probes.
    """
    latencies: dict[int, list[float]] = {port: [] for port in ports}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for port in ports:
            for path in ("/livez", "/readyz"):
                t0 = time.perf_counter()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
                        ok = sock.recv(65536).startswith(b"HTTP/1.1 200")
                except OSError:
                    ok = False
                latencies[port].append(time.perf_counter() - t0 if ok else float("inf"))
        time.sleep(PROBE_INTERVAL_S)
    out.send(latencies)
    out.close()


async def drive(port: int, raw: bytes, connections: int, seconds: float) -> Tally:
    """`connections` closed-loop connections and the probes for `seconds`; requests still out are dropped."""
    tally, end = Tally(), time.perf_counter() + seconds
    jobs = [asyncio.create_task(connection(port, raw, end, tally)) for _ in range(connections)]
    await asyncio.sleep(seconds)
    await asyncio.wait(jobs, timeout=1.0)  # let answers on their way finish the loops
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    return tally


def run_load(port: int, route: str, connections: int, seconds: float, probe_port: int = 0) -> Tally:
    """The load, with the probes (service port, and probe port if any) in a process of their own."""
    path, body, content_type, extra = ROUTES[route]
    raw = raw_request(path, body, content_type, port, extra)
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    ports = [port, probe_port] if probe_port else [port]
    prober = multiprocessing.get_context("fork").Process(target=probe_process, args=(ports, seconds, sender))
    prober.start()
    try:
        import uvloop

        tally = uvloop.run(drive(port, raw, connections, seconds))
    except ImportError:
        tally = asyncio.run(drive(port, raw, connections, seconds))
    probes = receiver.recv()
    tally.probes, tally.probe_port = probes[port], probes.get(probe_port, [])
    prober.join()
    return tally


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its descendants alive now, from /proc."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def step_row(route: str, connections: int, seconds: float, tally: Tally, cpu: float) -> dict[str, Any]:
    answered = sum(tally.statuses.values())
    ok = len(tally.ok_latencies)
    q = statistics.quantiles(tally.ok_latencies, n=100) if ok > 1 else tally.ok_latencies * 99
    return {
        "route": route,
        "connections": connections,
        "answered_per_s": round(answered / seconds, 1),
        "goodput_per_s": round(ok / seconds, 1),
        "rejected_per_s": round(tally.statuses.get(503, 0) / seconds, 1),
        "other_status": {s: n for s, n in tally.statuses.items() if s != 503 and not 200 <= s < 300},
        "errors": tally.errors,
        "p50_ms": round(q[49] * 1e3, 1) if q else None,
        "p99_ms": round(q[98] * 1e3, 1) if q else None,
        "probe_max_ms": round(max(tally.probes) * 1e3, 1) if tally.probes else None,
        "probes_over_250ms": sum(p > 0.25 for p in tally.probes),
        "probes": len(tally.probes),
        "probe_port_max_ms": round(max(tally.probe_port) * 1e3, 1) if tally.probe_port else None,
        "probe_port_over_250ms": sum(p > 0.25 for p in tally.probe_port),
        "cpu_ms_per_answer": round(cpu * 1e3 / answered, 3) if answered else None,
        "ok": ok,
        "rejected": tally.statuses.get(503, 0),
        "cpu_s": round(cpu, 3),
    }


def measure(server: Server, route: str, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    assert server.proc is not None
    probe_port = int(server.env.get("PADDLE_SERVE_PROBE_PORT", "0"))
    if args.warmup > 0:
        run_load(server.port, route, connections, args.warmup, probe_port)
    before = cpu_seconds(server.proc.pid)
    tally = run_load(server.port, route, connections, args.duration, probe_port)
    return step_row(route, connections, args.duration, tally, cpu_seconds(server.proc.pid) - before)


def in_flight(port: int, route: str) -> float:
    """The server's `admission_in_flight` of the route class `route` belongs to (from /metrics)."""
    name = route.removeprefix("v2_")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf'^admission_in_flight{{route_class="{name}"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def wait_in_flight(port: int, route: str, want: float) -> None:
    for _ in range(100):
        if in_flight(port, route) == want:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{route}: in flight is not {want} after 5 s")


def hold_slot(port: int, route: str) -> socket.socket:
    """A request of `route` sent half-way: admitted, it holds its class's slot until the socket closes."""
    path, body, content_type, extra = ROUTES[route]
    wait_in_flight(port, route, 0)  # the last route's holder is gone: this one is admitted, not refused
    sock = socket.create_connection(("127.0.0.1", port))
    request = raw_request(path, body, content_type, port, extra)
    sock.sendall(request[: len(request) - len(body) // 2])
    wait_in_flight(port, route, 1)
    return sock


def rejection_cost(servers: dict[str, Server], routes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """CPU per 503 while each route's one slot is held, on its own server."""
    server = servers["reject"].start()
    assert server.proc is not None
    out = {}
    try:
        for route in routes:
            holder = hold_slot(server.port, route)
            before = cpu_seconds(server.proc.pid)
            tally = run_load(server.port, route, args.reject_connections, args.duration)
            cpu = cpu_seconds(server.proc.pid) - before
            holder.close()
            rejected = tally.statuses.get(503, 0)
            out[route] = {
                "rejected_per_s": round(rejected / args.duration, 1),
                "cpu_ms_per_rejection": round(cpu * 1e3 / rejected, 3) if rejected else None,
                "other_status": {s: n for s, n in tally.statuses.items() if s != 503},
                "errors": tally.errors,
            }
    finally:
        server.stop()
    return out


def make_servers(models: Path, env: dict[str, str], logs: Path) -> dict[str, Server]:
    """The server under test (settings as given) and the one that refuses everything, both `python -m app`."""
    servers = {}
    shed_all = {"PRICE_IN_FLIGHT": "1", "DIGIT_IN_FLIGHT": "1", "ADMISSION_WAITING": "0"}
    for name, extra in (("service", {}), ("reject", shed_all)):
        port = free_port()
        settings = {"MODELS_DIR": str(models), "HOST": "127.0.0.1", "PORT": str(port), **env, **extra}
        settings.setdefault("PROBE_PORT", str(free_port()))  # as the deployments set it
        server_env = {f"PADDLE_SERVE_{k}": v for k, v in settings.items()}
        servers[name] = Server(name, [sys.executable, "-m", "app"], port, env=server_env)
        servers[name].log_path = logs / f"{name}.log"
    return servers


def print_report(report: dict[str, Any]) -> None:
    print("load generator: asyncio client in the same machine, sharing its cores with the server")
    print(
        f"{'route':<7}{'conns':>6}{'answered/s':>11}{'2xx/s':>8}{'503/s':>8}{'errors':>7}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'probe max ms':>13}{'>250 ms':>8}{'cpu ms/answer':>14}"
        f"{'probe port max ms':>18}{'>250 ms':>8}"
    )
    for r in report["curve"]:
        print(
            f"{r['route']:<7}{r['connections']:>6}{r['answered_per_s']:>11.0f}{r['goodput_per_s']:>8.0f}"
            f"{r['rejected_per_s']:>8.0f}{r['errors']:>7}{r['p50_ms'] or 0:>8.1f}{r['p99_ms'] or 0:>8.1f}"
            f"{r['probe_max_ms'] or 0:>13.1f}{r['probes_over_250ms']:>8}{r['cpu_ms_per_answer'] or 0:>14.3f}"
            f"{r['probe_port_max_ms'] or 0:>18.1f}{r['probe_port_over_250ms']:>8}"
        )
    for route, cost in report.get("rejection", {}).items():
        served = next((r for r in report["curve"] if r["route"] == route and r["ok"]), None)
        per_ok = served["cpu_s"] * 1e3 / served["ok"] if served else None
        per_reject = cost["cpu_ms_per_rejection"]
        ratio = f"{per_reject / per_ok:.2f} of a served one" if per_ok and per_reject else "n/a"
        print(f"{route}: a rejection costs {per_reject} ms of server CPU ({ratio})")
    mem = report["memory"]
    print(f"server RSS before {mem['before']['total_mb']} MB, after {mem['after']['total_mb']} MB")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--routes", default="price,digit", help=f"comma-separated, of {','.join(ROUTES)}")
    p.add_argument("--steps", default=",".join(map(str, STEPS)), help="connection counts")
    p.add_argument("--duration", type=float, default=8.0, help="seconds measured per step")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each step")
    p.add_argument("--reject-connections", type=int, default=32, help="load for the rejection cost")
    p.add_argument("--no-rejection-cost", action="store_true")
    p.add_argument("--models-dir", type=Path, default=REPO / "models")
    p.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, default=REPO / "bench/results/overload.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 1,024 connections each side
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    env = {k.removeprefix("PADDLE_SERVE_"): v for k, v in (kv.split("=", 1) for kv in args.service_env)}
    routes, steps = args.routes.split(","), [int(s) for s in args.steps.split(",")]
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "curve": []}
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        models, report["models"] = models_root(args.models_dir, Path(tmp))
        servers = make_servers(models, env, Path(tmp))
        server = servers["service"].start()
        try:
            memory_before = server.memory()
            for route in routes:
                for connections in steps:
                    report["curve"].append(measure(server, route, connections, args))
            report["memory"] = {"before": memory_before, "after": server.memory()}
        finally:
            server.stop()
        if not args.no_rejection_cost:
            report["rejection"] = rejection_cost(servers, routes, args)
    report["settings"] = {k: str(v) for k, v in vars(args).items()}
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
