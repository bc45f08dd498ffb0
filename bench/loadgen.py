"""Closed-loop load: N connections each sending one request after another for a fixed duration.

`wrk` (Debian package) when installed, with a Lua script that reads the body from a file and
prints its summary as JSON; else an asyncio httpx client (slower: it may be the bottleneck).
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
    """One case's request: method, path, body and its content type."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None


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
        header = f'wrk.headers["Content-Type"] = "{request.content_type}"' if request.content_type else ""
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


async def _httpx_load(base_url: str, request: Request, duration: float, connections: int) -> LoadResult:
    import httpx

    latencies: list[float] = []
    errors = 0
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def connection() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.request(
                        request.method, request.path, content=request.body, headers=headers
                    )
                    errors += not r.is_success
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult(
        loader="httpx",
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
    return asyncio.run(_httpx_load(base_url, request, duration, connections))
