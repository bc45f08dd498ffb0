"""Closed-loop load: N connections each sending one request after another for a fixed duration.

`wrk` (Debian package) when installed, with a Lua script that reads the body from a file and
prints its summary as JSON; else a minimal asyncio HTTP/1.1 keep-alive client (httpx's
AsyncClient managed only ~150 requests/s here, far too slow to load a server).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"

WRK_SCRIPT = """
local f = assert(io.open("%(body)s", "rb"))
wrk.method = "%(method)s"
wrk.body = f:read("*all")
f:close()
%(content_type)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"errors": %%d, "non_2xx": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class Request:
    """One case's request: method, path, body, its content type and any other headers."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def header_lines(self) -> dict[str, str]:
        lines = {"Content-Type": self.content_type} if self.content_type else {}
        return {**lines, **dict(self.headers)}


@dataclass
class LoadResult:
    """What a load run measured; errors count failed connections and non-2xx answers."""

    loader: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field, and its Content-Type header."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base_url: str, request: Request, duration: float, connections: int) -> LoadResult:
    """`wrk -t1` (one load thread leaves the most CPU to the server) with `connections` connections."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body, script = Path(tmp, "body"), Path(tmp, "script.lua")
        body.write_bytes(request.body)
        header = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in request.header_lines().items())
        script.write_text(WRK_SCRIPT % {"body": body, "method": request.method, "content_type": header})
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
        cmd += ["-s", str(script), base_url + request.path]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    seconds = summary["duration_us"] / 1e6
    return LoadResult(
        loader="wrk",
        connections=connections,
        duration_s=round(seconds, 2),
        requests=summary["requests"],
        rps=round(summary["requests"] / seconds, 1),
        p50_ms=summary["p50_us"] / 1e3,
        p90_ms=summary["p90_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
        errors=summary["errors"] + summary["non_2xx"],
    )


async def _one_connection(host: str, port: int, raw: bytes, deadline: float, latencies: list[float]) -> int:
    """Send `raw` again and again on one keep-alive connection until `deadline`; returns the errors."""
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            errors += head[9:10] != b"2"  # "HTTP/1.1 200 OK": the status's first digit
    except (OSError, asyncio.IncompleteReadError, ValueError):
        errors += 1
    finally:
        writer.close()
    return errors


async def _asyncio_load(base_url: str, request: Request, duration: float, connections: int) -> LoadResult:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (needs Content-Length answers)."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.header_lines().items())
    raw = (head + f"Content-Length: {len(request.body)}\r\n\r\n").encode() + request.body
    latencies: list[float] = []
    start = time.perf_counter()
    jobs = [_one_connection(host, port, raw, start + duration, latencies) for _ in range(connections)]
    errors = sum(await asyncio.gather(*jobs))
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult(
        loader="asyncio",
        connections=connections,
        duration_s=round(elapsed, 2),
        requests=len(latencies),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(q[49] * 1e3, 3),
        p90_ms=round(q[89] * 1e3, 3),
        p99_ms=round(q[98] * 1e3, 3),
        errors=errors,
    )


def run_load(
    base_url: str, request: Request, duration: float, connections: int, loader: str = "auto"
) -> LoadResult:
    """Drive `request` at `base_url` for `duration` seconds over `connections` connections."""
    if loader == "wrk" or (loader == "auto" and wrk_available()):
        return run_wrk(base_url, request, duration, connections)
    try:
        import uvloop

        return uvloop.run(_asyncio_load(base_url, request, duration, connections))
    except ImportError:
        return asyncio.run(_asyncio_load(base_url, request, duration, connections))
