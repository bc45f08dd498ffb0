"""Reload under load: price and digit traffic while both models are reloaded again and again.

    python scripts/reload_soak.py                          # 20 s, 32 connections, >= 10 reloads each
    python scripts/reload_soak.py --duration 120 --connections 64

Starts `python -m app` (default settings: an upload child process) on a models folder whose
`boston` and `mnist` are symlinks, switched between two fixture model sets whose answers differ
(tests/app's and tests/hardening's), each switch followed by `POST /v2/repository/models/{name}/load`;
every fourth round also loads a broken boston folder (a 400, the old version serving on). Passes
when no request failed, every answer is exactly one model set's answer for that input, each
model was reloaded at least --reloads times, and memory after is within 10% of before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.live_server import LiveServer, tree_rss_bytes
from tests.app.conftest import drawn_digit_png
from tests.app.model_fixtures import ROW
from tests.app.model_fixtures import write_models as write_a
from tests.hardening.fixture_models import write_models as write_b

logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
TOKEN = "reload-soak-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PNG = drawn_digit_png()


def point(models: Path, name: str, target: Path) -> None:
    """Switch `models/name` to `target` in one rename."""
    link = models / f".{name}.next"
    link.unlink(missing_ok=True)
    link.symlink_to(target, target_is_directory=True)
    os.replace(link, models / name)


def folders(root: Path) -> dict[str, Path]:
    a, b, served, broken = write_a(root / "a"), write_b(root / "b"), root / "served", root / "broken"
    served.mkdir()
    for name in ("boston", "mnist"):
        point(served, name, a / name)
    shutil.copytree(a / "boston", broken / "boston")
    (broken / "boston" / "model.pdparams").write_bytes(b"truncated")
    return {"a": a, "b": b, "served": served, "broken": broken}


async def answers(client: httpx.AsyncClient) -> tuple[float, tuple[float, ...]]:
    """(price, digit probabilities) for the fixed inputs, as the server answers them now."""
    price = await client.post("/predict/price", json=ROW)
    digit = await client.post("/predict/digit", files={"file": ("d.png", PNG, "image/png")})
    price.raise_for_status()
    digit.raise_for_status()
    return price.json()["price"], tuple(digit.json()["probabilities"])


async def load(client: httpx.AsyncClient, name: str) -> int:
    return (await client.post(f"/v2/repository/models/{name}/load", headers=ADMIN)).status_code


async def traffic(client: httpx.AsyncClient, stop: asyncio.Event, seen: dict[str, Any], i: int) -> None:
    """One connection's loop, alternating price and digit requests until `stop`."""
    while not stop.is_set():
        try:
            if i % 2:
                r = await client.post("/predict/price", json=ROW)
                answer: Any = r.json()["price"] if r.status_code == 200 else None
            else:
                r = await client.post("/predict/digit", files={"file": ("d.png", PNG, "image/png")})
                answer = tuple(r.json()["probabilities"]) if r.status_code == 200 else None
            seen["statuses"][r.status_code] = seen["statuses"].get(r.status_code, 0) + 1
            seen["price" if i % 2 else "digit"].add(answer)
        except httpx.HTTPError as exc:
            seen["errors"].append(type(exc).__name__)
        i += 1


async def reloader(client: httpx.AsyncClient, paths: dict[str, Path], args: argparse.Namespace) -> dict:
    """Switch and load both models until the time is up and each was reloaded --reloads times."""
    done = {"boston": 0, "mnist": 0, "broken_refused": 0, "seconds": []}
    end = time.monotonic() + args.duration
    sets = ["b", "a"]
    rounds = 0
    while time.monotonic() < end or min(done["boston"], done["mnist"]) < args.reloads:
        target = paths[sets[rounds % 2]]
        for name in ("boston", "mnist"):
            point(paths["served"], name, target / name)
            start = time.monotonic()
            status = await load(client, name)
            done["seconds"].append(time.monotonic() - start)
            if status != 200:
                raise RuntimeError(f"load {name} answered {status}")
            done[name] += 1
        if rounds % 4 == 3:
            point(paths["served"], "boston", paths["broken"] / "boston")
            done["broken_refused"] += await load(client, "boston") == 400
            point(paths["served"], "boston", target / "boston")
        rounds += 1
        await asyncio.sleep(0.3)
    return done


async def soak(server: LiveServer, paths: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.connections + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits) as client:
        expected = {"a": await answers(client)}
        for name in ("boston", "mnist"):
            point(paths["served"], name, paths["b"] / name)
            assert await load(client, name) == 200
        expected["b"] = await answers(client)
        seen: dict[str, Any] = {"statuses": {}, "errors": [], "price": set(), "digit": set()}
        stop = asyncio.Event()
        rss_before = tree_rss_bytes(server.pid)
        loops = [asyncio.create_task(traffic(client, stop, seen, i)) for i in range(args.connections)]
        start = time.monotonic()
        reloads = await reloader(client, paths, args)
        stop.set()
        await asyncio.gather(*loops)
        elapsed = time.monotonic() - start
        await asyncio.sleep(args.inference_drain)  # replaced pipelines close after their last request
        rss_after = tree_rss_bytes(server.pid)
    prices = {expected["a"][0], expected["b"][0]}
    digits = {expected["a"][1], expected["b"][1]}
    return {
        "seconds": round(elapsed, 1),
        "requests": sum(seen["statuses"].values()),
        "statuses": seen["statuses"],
        "connection_errors": seen["errors"][:20],
        "answers_differ_between_sets": prices != {expected["a"][0]} and len(digits) == 2,
        "unexpected_prices": len(seen["price"] - prices),
        "unexpected_digits": len(seen["digit"] - digits),
        "reloads": {k: v for k, v in reloads.items() if k != "seconds"},
        "reload_seconds_median": round(sorted(reloads["seconds"])[len(reloads["seconds"]) // 2], 3),
        "reload_seconds_max": round(max(reloads["seconds"]), 3),
        "rss_mb_before": round(rss_before / 2**20, 1),
        "rss_mb_after": round(rss_after / 2**20, 1),
    }


def passed(report: dict[str, Any], args: argparse.Namespace) -> bool:
    return bool(
        set(report["statuses"]) == {200}
        and not report["connection_errors"]
        and report["answers_differ_between_sets"]
        and report["unexpected_prices"] == report["unexpected_digits"] == 0
        and min(report["reloads"]["boston"], report["reloads"]["mnist"]) >= args.reloads
        and report["reloads"]["broken_refused"] >= 1
        and report["rss_mb_after"] <= 1.1 * report["rss_mb_before"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic, at least")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--reloads", type=int, default=10, help="reloads of each model, at least")
    parser.add_argument("--inference-drain", type=float, default=2.0, help="seconds before memory is read")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reload-soak-") as tmp:
        paths = folders(Path(tmp))
        env = {"PADDLE_SERVE_MODELS_DIR": str(paths["served"]), "PADDLE_SERVE_ADMIN_TOKEN": TOKEN}
        env["PADDLE_SERVE_ACCESS_LOG"] = "false"
        with LiveServer(env, log_path=Path(tmp) / "server.log") as server:
            report = asyncio.run(soak(server, paths, args))
            log = server.log()
    report["passed"] = passed(report, args) and "Traceback" not in log
    print(json.dumps(report, indent=2))
    if "Traceback" in log:
        print(log[-4000:])
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
