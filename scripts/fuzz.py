"""Schema fuzzing: schemathesis against the service's own /openapi.json, every route.

    python scripts/fuzz.py                        # full run: starts a server on the repo's models
    python scripts/fuzz.py --phases examples,fuzzing --max-examples 25 --min-cases 100   # CI form
    python scripts/fuzz.py --url http://127.0.0.1:8000                         # an already running server
    python scripts/fuzz.py --schema dataplane.json --include-path-regex '^/v2'   # another API's spec
    python scripts/fuzz.py --token T --exclude-path-regex 'unload$'   # the server needs token T

Checks: no 5xx, documented status codes, content types and response schemas (errors included).
Prints schemathesis' own report (failures come with a curl line to reproduce them), then the
figures, and exits non-zero on any failure or when fewer than --min-cases cases were generated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_server import LiveServer

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
RUN_SCHEMATHESIS = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--url", help="base URL of a running server (default: start one)")
    parser.add_argument("--models-dir", help="PADDLE_SERVE_MODELS_DIR for the server this script starts")
    parser.add_argument("--max-examples", type=int, default=100, help="fuzzing cases per operation")
    parser.add_argument("--min-cases", type=int, default=1000, help="fail if fewer cases were generated")
    parser.add_argument("--seed", type=int, default=20261128)
    # One worker: with threads, hypothesis' ast.parse hits a CPython 3.11 race
    # ("AST constructor recursion depth mismatch") and the operation errors out.
    parser.add_argument("--workers", default="1", help="schemathesis workers (1-64 or auto)")
    parser.add_argument("--checks", default=CHECKS, help="comma-separated schemathesis checks")
    parser.add_argument("--phases", default="examples,coverage,fuzzing", help="schemathesis test phases")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--report-dir", type=Path, help="keep schemathesis' JSON and NDJSON reports here")
    parser.add_argument("--schema", help="an OpenAPI file to test the server against (default: its own)")
    parser.add_argument("--include-path-regex", help="only the operations whose path matches")
    parser.add_argument("--exclude-path-regex", help="not the operations whose path matches")
    parser.add_argument(
        "--token",
        help="send `Authorization: Bearer TOKEN`; the server this script starts takes it as its admin"
        " token and its one API token",
    )
    return parser.parse_args(argv)


def schemathesis_command(args: argparse.Namespace, url: str, report_dir: Path) -> list[str]:
    """The `schemathesis run` command line, in this interpreter."""
    schema = [args.schema, "--url", url] if args.schema else [f"{url}/openapi.json"]
    paths = []
    if args.include_path_regex:
        paths += ["--include-path-regex", args.include_path_regex]
    if args.exclude_path_regex:
        paths += ["--exclude-path-regex", args.exclude_path_regex]
    if args.token:
        paths += ["--header", f"Authorization: Bearer {args.token}"]
    return [
        sys.executable, "-c", RUN_SCHEMATHESIS, "run", *schema, *paths,
        "--checks", args.checks,
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        "--workers", str(args.workers),
        "--request-timeout", str(args.request_timeout),
        "--phases", args.phases,
        "--suppress-health-check", "all",
        "--report", "json,ndjson",
        "--report-dir", str(report_dir),
        "--report-json-path", str(report_dir / "report.json"),
        "--report-ndjson-path", str(report_dir / "events.ndjson"),
    ]  # fmt: skip


def summarize(report: dict[str, object]) -> dict[str, object]:
    """The figures worth printing from schemathesis' JSON report."""
    cases = report.get("test_cases", {})
    operations = report.get("operations", {})
    assert isinstance(cases, dict) and isinstance(operations, dict)
    return {
        "operations_tested": operations.get("tested"),
        "operations_errored": operations.get("errored"),
        "cases_generated": cases.get("generated", 0),
        "cases_with_failures": cases.get("with_failures", 0),
        "unique_failures": cases.get("unique_failures", 0),
        "cases_errored": cases.get("errored", 0),
        "failures": report.get("failures", []),
        "errors": report.get("errors", []),
    }


def fuzz(args: argparse.Namespace, url: str) -> int:
    """Run schemathesis against `url`, print the figures; 0 when clean and big enough."""
    report_dir = args.report_dir or Path(tempfile.mkdtemp(prefix="fuzz-"))
    report_dir.mkdir(parents=True, exist_ok=True)
    code = subprocess.run(schemathesis_command(args, url, report_dir), check=False).returncode
    report_path = report_dir / "report.json"
    if not report_path.exists():
        print(f"fuzz: schemathesis wrote no report (exit {code})")
        return code or 1
    figures = summarize(json.loads(report_path.read_text()))
    print("fuzz figures:", json.dumps(figures, indent=2))
    if code != 0:
        print(f"fuzz: FAILED (schemathesis exit {code}); events in {report_dir / 'events.ndjson'}")
        return code
    if int(str(figures["cases_generated"])) < args.min_cases:
        print(f"fuzz: FAILED, only {figures['cases_generated']} cases (< {args.min_cases})")
        return 1
    print(f"fuzz: OK, {figures['cases_generated']} cases, no failures")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url:
        return fuzz(args, args.url.rstrip("/"))
    env = {"PADDLE_SERVE_MODELS_DIR": args.models_dir} if args.models_dir else {}
    if args.token:
        env |= {"PADDLE_SERVE_ADMIN_TOKEN": args.token, "PADDLE_SERVE_API_TOKENS": args.token}
    server = LiveServer(env).start()
    try:
        code = fuzz(args, server.url)
    finally:
        exit_code = server.stop()
    log = server.log()
    if "Traceback" in log:
        print("fuzz: the server logged a traceback:\n" + log[-4000:])
        code = code or 1
    print(f"fuzz: server exit code {exit_code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
