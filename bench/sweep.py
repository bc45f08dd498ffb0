"""Tune the service: the digit (and livez) case under each batching / workers / threads setting.

    python -m bench.sweep                                   # the default grid, ~4 minutes
    python -m bench.sweep --grid BATCH_MAX_SIZE=8,16,32 --grid BATCH_MAX_WAIT_MS=0,2
    python -m bench.sweep --grid WORKERS=1,2 --grid INFERENCE_THREADS=1,2 --cases livez,digit

Every combination of the --grid values runs in a fresh server; settings not in the grid keep
the service's defaults. Prints a table and writes JSON (bench/results/sweep.json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bench import measure_server
from bench.fixtures import models_root
from bench.servers import REPO, Server, uvicorn_argv
from scripts.live_server import free_port

DEFAULT_GRID = {
    "BATCH_MAX_SIZE": ["8", "16", "32", "64"],
    "BATCH_MAX_WAIT_MS": ["0", "1", "2", "5"],
}


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def service(setting: dict[str, str], models: Path, logs: Path) -> Server:
    """The service with `setting` as PADDLE_SERVE_* variables; WORKERS also sets uvicorn's --workers."""
    port, workers = free_port(), int(setting.get("WORKERS", "1"))
    env = {"PADDLE_SERVE_MODELS_DIR": str(models), **{f"PADDLE_SERVE_{k}": v for k, v in setting.items()}}
    server = Server("service", uvicorn_argv("app.main:app", port, workers), port, env=env)
    server.log_path = logs / "service.log"
    return server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="repeatable")
    p.add_argument("--cases", default="digit")
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--loader", choices=["auto", "wrk", "asyncio"], default="auto")
    p.add_argument("--models-dir", type=Path, default=REPO / "models")
    p.add_argument("--out", type=Path, default=REPO / "bench/results/sweep.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grid = {k: v.split(",") for k, v in (g.split("=", 1) for g in args.grid)} or DEFAULT_GRID
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        models, origin = models_root(args.models_dir, Path(tmp))
        for setting in combinations(grid):
            result = measure_server(service(setting, models, Path(tmp)), args.cases.split(","), args)
            for case, c in result["cases"].items():
                rows.append({"setting": setting, "case": case, **c})
                label = " ".join(f"{k}={v}" for k, v in setting.items())
                print(
                    f"{label:<44}{case:<7}{c['rps']:>8.0f} req/s  p50 {c['p50_ms']:>7.2f}"
                    f"  p99 {c['p99_ms']:>7.2f} ms  errors {c['errors']}",
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"models": origin, "grid": grid, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
