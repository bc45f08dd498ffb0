"""HTTP benchmark: the service against a naive baseline and LitServe, side by side in one run.

Starts every server itself, one at a time, and drives each case with a fixed number of
connections for a fixed time (wrk if installed, else a small asyncio client). Prints a
table (requests/s, p50, p90, p99, errors), time to ready and memory; writes JSON.

    python -m bench.bench                  # full run: 10 s per case after 2 s of warm-up
    python -m bench.bench --quick          # ~1 s per case: proves the harness works
    python -m bench.bench --servers service --service-env BATCH_MAX_SIZE=16
    python -m bench.bench --servers service,mlserver --cases v2_price,v2_pixels,v2_image
    python -m bench.bench --servers service,service@/tmp/old --cases price,digit   # two checkouts
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.fixtures import (
    digit_png,
    models_root,
    price_body,
    v2_image_base64_body,
    v2_image_body,
    v2_pixels_body,
    v2_pixels_json_body,
    v2_price_body,
)
from bench.loadgen import LoadResult, Request, multipart, run_load, wrk_available
from bench.mlserver_models import mlserver_command, write_repository
from bench.servers import REPO, Server, uvicorn_argv
from scripts.live_server import free_port

ENV_PREFIX = "PADDLE_SERVE_"
DIGIT_BODY, DIGIT_TYPE = multipart("file", "digit.png", digit_png(), "image/png")
(PIXELS_BODY, PIXELS_JSON), (IMAGE_BODY, IMAGE_JSON) = v2_pixels_body(), v2_image_body()
MNIST_INFER, HEADER_LENGTH = "/v2/models/mnist/infer", "Inference-Header-Content-Length"
CASES: dict[str, Request] = {
    "livez": Request("GET", "/livez"),
    "price": Request("POST", "/predict/price", price_body(), "application/json"),
    "digit": Request("POST", "/predict/digit", DIGIT_BODY, DIGIT_TYPE),
    "v2_price": Request("POST", "/v2/models/boston/infer", v2_price_body(), "application/json"),
    "v2_pixels": Request("POST", MNIST_INFER, PIXELS_BODY, None, ((HEADER_LENGTH, PIXELS_JSON),)),
    "v2_image": Request("POST", MNIST_INFER, IMAGE_BODY, None, ((HEADER_LENGTH, IMAGE_JSON),)),
}  # fmt: skip
V2_CASES = ("v2_price", "v2_pixels", "v2_image")
# MLServer's REST does not implement the binary tensor data extension: it gets the same tensors in
# JSON (the image base64-encoded, its `content_type: base64`), the nearest form it takes.
MLSERVER_CASES = {
    "v2_pixels": Request("POST", "/v2/models/mnist/infer", v2_pixels_json_body(), "application/json"),
    "v2_image": Request("POST", "/v2/models/mnist/infer", v2_image_base64_body(), "application/json"),
}


def litserve_installed() -> bool:
    try:
        import litserve  # noqa: F401
    except ImportError:
        return False
    return True


def make_servers(
    names: list[str], models: Path, workers: int, service_env: dict[str, str], logs: Path
) -> list[Server]:
    """The servers to measure, in order; LitServe only when it is installed."""
    servers = []
    for name in names:
        port = free_port()
        if name == "service" or name.startswith("service@"):
            env = {f"{ENV_PREFIX}MODELS_DIR": str(models), f"{ENV_PREFIX}WORKERS": str(workers)}
            env |= {k if k.startswith(ENV_PREFIX) else ENV_PREFIX + k: v for k, v in service_env.items()}
            root = Path(name.split("@", 1)[1]).resolve() if "@" in name else REPO
            argv = uvicorn_argv("app.main:app", port, workers)
            servers.append(Server(name, argv, port, env=env, root=root))
        elif name == "mlserver":
            ports = (port, free_port(), free_port())
            repository = write_repository(models, logs / "mlserver-models", ports)
            argv = [str(mlserver_command()), "start", str(repository)]
            servers.append(Server(name, argv, port, "/v2/health/ready"))
        elif name == "baseline":
            env = {"BENCH_MODELS_DIR": str(models)}
            servers.append(Server(name, uvicorn_argv("bench.baseline:app", port, workers), port, env=env))
        elif name == "litserve" and litserve_installed():
            argv = [sys.executable, "-m", "bench.litserve_app", "--port", str(port)]
            servers.append(Server(name, argv, port, "/health", env={"BENCH_MODELS_DIR": str(models)}))
        elif name == "litserve":
            print("litserve is not installed: skipped (pip install litserve)", file=sys.stderr)
    for server in servers:
        server.log_path = logs / (server.name.replace("/", "_") + ".log")
    return servers


def livez_request(server: Server) -> Request:
    """LitServe has no /livez; its /health is the nearest constant GET."""
    return Request("GET", "/health") if server.name == "litserve" else CASES["livez"]


def request_for(server: Server, case: str) -> Request:
    """What `server` is sent for `case`: the same for all, but where a server lacks a feature."""
    if case == "livez":
        return livez_request(server)
    if server.name == "mlserver":
        return MLSERVER_CASES.get(case, CASES[case])
    return CASES[case]


def check_answer(server: Server, request: Request) -> None:
    """One request first: a case that answers an error would measure the wrong thing."""
    headers = request.header_lines()
    r = httpx.request(request.method, server.url + request.path, content=request.body, headers=headers)
    if not r.is_success:
        raise RuntimeError(f"{server.name} {request.path}: {r.status_code} {r.text[:300]}")


def measure_server(server: Server, cases: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Start, measure every case (round-robin, `repeat` times), read memory under load, stop.

    Each case reports its median run by requests/s; all runs' rates are kept under "rps_runs".
    Round-robin puts the cases of one round close in time, so their ratio survives a noisy machine.
    """
    if server.name == "mlserver":  # it speaks only the Open Inference Protocol
        cases = [case for case in cases if case in V2_CASES]
    server.start()
    result: dict[str, Any] = {"ready_s": server.ready_s, "memory_idle": server.memory(), "cases": {}}
    runs: dict[str, list[LoadResult]] = {case: [] for case in cases}
    try:
        for case in cases:
            check_answer(server, request_for(server, case))
        for _ in range(getattr(args, "repeat", 1)):
            for case in cases:
                request = request_for(server, case)
                if args.warmup > 0:
                    run_load(server.url, request, args.warmup, args.connections, args.loader)
                runs[case].append(run_load(server.url, request, args.duration, args.connections, args.loader))
        result["memory_loaded"] = server.memory()
    finally:
        server.stop()
    for case, loads in runs.items():
        median = sorted(loads, key=lambda r: r.rps)[len(loads) // 2]
        result["cases"][case] = {**asdict(median), "rps_runs": [r.rps for r in loads]}
    return result


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The issue's targets, as ratios of requests per second within this one run."""

    def rps(server: str, case: str) -> float | None:
        return results.get(server, {}).get("cases", {}).get(case, {}).get("rps")

    out = {}
    pairs = {
        "service price / service livez": (("service", "price"), ("service", "livez")),
        "service digit / service livez": (("service", "digit"), ("service", "livez")),
        "service digit / baseline digit": (("service", "digit"), ("baseline", "digit")),
        "service price / baseline price": (("service", "price"), ("baseline", "price")),
        "service digit / litserve digit": (("service", "digit"), ("litserve", "digit")),
        "service price / litserve price": (("service", "price"), ("litserve", "price")),
        **{f"service {c} / mlserver {c}": (("service", c), ("mlserver", c)) for c in V2_CASES},
    }
    for label, (a, b) in pairs.items():
        x, y = rps(*a), rps(*b)
        if x and y:
            out[label] = round(x / y, 2)
    return out


def print_report(results: dict[str, Any], summary: dict[str, float]) -> None:
    print(f"{'server':<14}{'case':<11}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for server, r in results.items():
        for case, c in r["cases"].items():
            print(
                f"{server:<14}{case:<11}{c['rps']:>9.0f}{c['p50_ms']:>9.2f}{c['p90_ms']:>9.2f}"
                f"{c['p99_ms']:>9.2f}{c['errors']:>8}"
            )
    print()
    for server, r in results.items():
        mem = r.get("memory_loaded", r["memory_idle"])
        print(f"{server:<14} ready in {r['ready_s']:.2f} s; RSS {mem['total_mb']} MB {mem['per_process_mb']}")
    print()
    for label, value in summary.items():
        print(f"{label:<44}{value:>6.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 s per case, no warm-up (smoke test)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per case")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each case")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1, help="rounds over the cases; the median is reported")
    p.add_argument("--workers", type=int, default=1, help="worker processes, for every server alike")
    p.add_argument("--servers", default="service,baseline,litserve")
    p.add_argument("--cases", default="livez,price,digit")
    p.add_argument("--loader", choices=["auto", "wrk", "asyncio"], default="auto")
    p.add_argument("--models-dir", type=Path, default=REPO / "models")
    p.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"extra service setting ({ENV_PREFIX} prefix optional); repeatable",
    )
    p.add_argument("--out", type=Path, default=REPO / "bench/results/bench.json")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeat = 1.0, 0.0, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    service_env = dict(kv.split("=", 1) for kv in args.service_env)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        models, origin = models_root(args.models_dir, Path(tmp))
        logs = Path(tmp)
        for server in make_servers(args.servers.split(","), models, args.workers, service_env, logs):
            try:
                results[server.name] = measure_server(server, args.cases.split(","), args)
            except (RuntimeError, TimeoutError):
                log = server.log_path.read_text(errors="replace")[-3000:] if server.log_path else ""
                print(f"--- {server.name} log (tail) ---\n{log}", file=sys.stderr)
                raise
    summary = ratios(results)
    print_report(results, summary)
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "models": origin,
        "loader": "wrk" if args.loader == "wrk" or (args.loader == "auto" and wrk_available()) else "asyncio",
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "models_dir")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({**meta, "results": results, "ratios": summary}, indent=2, default=str) + "\n"
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(c["errors"] == 0 for r in results.values() for c in r["cases"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
