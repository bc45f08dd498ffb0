"""Soak: mixed traffic on many concurrent connections against a server this script starts.

    python scripts/soak.py                     # 64 connections, 60 s, the repo's models
    python scripts/soak.py --duration 10       # the CI form

Traffic: price, price batch, digit upload, bad inputs (each must get its 4xx) and health routes.
Passes when there is no 5xx, no dropped connection, no unexpected status, and the server's
resident memory after the run is within --max-growth of what it was after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_server import LiveServer, tree_rss_bytes

# The first row of the Boston data set: inside every feature's domain.
PRICE = {"CRIM": 0.00632, "ZN": 18.0, "INDUS": 2.31, "CHAS": 0.0, "NOX": 0.538, "RM": 6.575, "AGE": 65.2,
         "DIS": 4.09, "RAD": 1.0, "TAX": 296.0, "PTRATIO": 15.3, "B": 396.9, "LSTAT": 4.98}  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One kind of request, how often it is sent, and the statuses it may get."""

    name: str
    weight: int
    method: str
    path: str
    expect: frozenset[int]
    kwargs: dict[str, object] = field(default_factory=dict)


def digit_png(size: int = 160) -> bytes:
    """A dark '4' drawn on white, as PNG."""
    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    k = size / 160
    draw.line([(100 * k, 20 * k), (30 * k, 100 * k), (130 * k, 100 * k)], fill=0, width=int(14 * k))
    draw.line([(100 * k, 20 * k), (100 * k, 145 * k)], fill=0, width=int(14 * k))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def traffic_mix() -> list[Call]:
    """The request kinds of the soak, valid and hostile."""
    png = digit_png()
    ok = frozenset({200})
    bad = frozenset({400, 413, 415, 422})
    json_hdr = {"content-type": "application/json"}
    return [
        Call("price", 25, "POST", "/predict/price", ok, {"json": PRICE}),
        Call("price_explain", 5, "POST", "/predict/price?explain=true", ok, {"json": PRICE}),
        Call("price_batch", 8, "POST", "/predict/price/batch", ok, {"json": {"instances": [PRICE] * 16}}),
        Call("digit", 15, "POST", "/predict/digit", ok, {"files": {"file": ("d.png", png, "image/png")}}),
        Call("digit_batch", 3, "POST", "/predict/digit/batch", ok,
             {"files": [("files", (f"{i}.png", png, "image/png")) for i in range(4)]}),
        Call("bad_price_nan", 5, "POST", "/predict/price", bad,
             {"content": json.dumps({**PRICE, "CRIM": float("nan")}), "headers": json_hdr}),
        Call("bad_price_missing", 4, "POST", "/predict/price", bad, {"json": {"CRIM": 1.0}}),
        Call("bad_json", 4, "POST", "/predict/price", bad, {"content": b"{not json", "headers": json_hdr}),
        Call("bad_image", 5, "POST", "/predict/digit", bad,
             {"files": {"file": ("x.png", b"\x89PNG not really" * 64, "image/png")}}),
        Call("bad_empty", 3, "POST", "/predict/digit", bad, {"files": {"file": ("e.png", b"", "image/png")}}),
        Call("livez", 8, "GET", "/livez", ok),
        Call("readyz", 8, "GET", "/readyz", ok),
        Call("health", 3, "GET", "/health", ok),
        Call("models", 3, "GET", "/models", ok),
        Call("metrics", 1, "GET", "/metrics", ok),
    ]  # fmt: skip


@dataclass
class Tally:
    """What a traffic phase saw."""

    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.split()[-1].startswith("5"))


async def worker(
    client: httpx.AsyncClient, calls: list[Call], stop_at: float, tally: Tally, seed: int
) -> None:
    """Send weighted random requests until `stop_at` (monotonic seconds)."""
    rng = random.Random(seed)
    weights = [c.weight for c in calls]
    while time.monotonic() < stop_at:
        call = rng.choices(calls, weights)[0]
        started = time.perf_counter()
        try:
            response = await client.request(call.method, call.path, **call.kwargs)
        except httpx.TransportError as exc:
            tally.dropped[f"{call.name} {type(exc).__name__}"] += 1
            continue
        finally:
            tally.requests += 1
        tally.latencies.append(time.perf_counter() - started)
        tally.statuses[f"{call.name} {response.status_code}"] += 1
        if response.status_code not in call.expect:
            tally.unexpected[f"{call.name} {response.status_code} {response.text[:200]}"] += 1


async def run_traffic(url: str, connections: int, seconds: float, seed: int) -> Tally:
    """`connections` workers, one connection each, for `seconds`."""
    tally = Tally()
    calls = traffic_mix()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(worker(client, calls, stop_at, tally, seed + i) for i in range(connections)))
    return tally


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(tally: Tally, seconds: float, rss: dict[str, int]) -> dict[str, object]:
    """The soak's figures as one JSON-able dict."""
    growth = (rss["after_run"] - rss["after_warmup"]) / rss["after_warmup"] if rss else 0.0
    return {
        "requests": tally.requests,
        "rps": round(tally.requests / seconds, 1),
        "p50_ms": round(1000 * percentile(tally.latencies, 0.5), 1),
        "p99_ms": round(1000 * percentile(tally.latencies, 0.99), 1),
        "server_errors_5xx": tally.server_errors,
        "dropped_connections": sum(tally.dropped.values()),
        "unexpected_statuses": sum(tally.unexpected.values()),
        "rss_mb": {k: round(v / 2**20, 1) for k, v in rss.items()},
        "rss_growth_pct": round(100 * growth, 2),
        "statuses": dict(sorted(tally.statuses.items())),
        "unexpected": dict(tally.unexpected.most_common(10)),
        "dropped": dict(tally.dropped),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of measured traffic")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of traffic before RSS baseline")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up")
    parser.add_argument("--models-dir", help="PADDLE_SERVE_MODELS_DIR for the server (default: repo models/)")
    parser.add_argument("--url", help="soak a running server instead (memory is checked only with --pid)")
    parser.add_argument("--pid", type=int, help="pid of the server behind --url, for its memory")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def soak(args: argparse.Namespace, url: str, pid: int | None) -> dict[str, object]:
    """Warm up, take the RSS baseline, run the measured traffic, take RSS again."""
    rss: dict[str, int] = {}
    if pid:
        rss["after_start"] = tree_rss_bytes(pid)
    asyncio.run(run_traffic(url, args.connections, args.warmup, args.seed + 10_000))
    if pid:
        rss["after_warmup"] = tree_rss_bytes(pid)
    tally = asyncio.run(run_traffic(url, args.connections, args.duration, args.seed))
    if pid:
        rss["after_run"] = tree_rss_bytes(pid)
    return report(tally, args.duration, rss)


def verdict(figures: dict[str, object], max_growth: float) -> list[str]:
    """Every reason the soak failed; empty when it passed."""
    reasons = [f"{key} = {figures[key]}" for key in ("server_errors_5xx", "dropped_connections",
                                                     "unexpected_statuses") if figures[key]]  # fmt: skip
    growth = float(str(figures["rss_growth_pct"]))
    if growth > 100 * max_growth:
        reasons.append(f"RSS grew {growth}% after warm-up (> {100 * max_growth}%)")
    return reasons


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        server = LiveServer({"PADDLE_SERVE_MODELS_DIR": args.models_dir} if args.models_dir else {}).start()
        url, pid = server.url, server.pid
    try:
        figures = soak(args, url, pid)
    finally:
        exit_code = server.stop() if server else None
    reasons = verdict(figures, args.max_growth)
    if server and "Traceback" in server.log():
        reasons.append("the server logged a traceback:\n" + server.log()[-3000:])
    if server and exit_code != 0:
        reasons.append(f"server exit code {exit_code} after SIGTERM")
    print(json.dumps(figures, indent=2))
    print("soak: " + ("FAILED\n  " + "\n  ".join(reasons) if reasons else "OK"))
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
