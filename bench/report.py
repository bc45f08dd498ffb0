"""Markdown tables from the JSON the benchmarks write, for docs/PERFORMANCE.md.

python -m bench.report bench/results/backends.json bench/results/bench.json bench/results/sweep.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def backends_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| network | backend | batch | median ms | p90 ms | µs/sample "
        "| max logit diff | max answer diff | ok |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['network']} | {r['backend']} | {r['batch']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} "
            f"| {r['per_sample_us']:.1f} | {r['max_abs_diff']:.1e} | {r['answer_diff']:.1e} "
            f"| {'yes' if r['correct'] else '**no**'} |"
        )
    return lines


def bench_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| server | case | req/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for server, r in data["results"].items():
        for case, c in r["cases"].items():
            lines.append(
                f"| {server} | {case} | {c['rps']:.0f} | {c['p50_ms']:.1f} | {c['p90_ms']:.1f} "
                f"| {c['p99_ms']:.1f} | {c['errors']} |"
            )
    lines += ["", "| server | ready s | RSS after load, MB (per process) |", "|---|---:|---|"]
    for server, r in data["results"].items():
        mem = r.get("memory_loaded", r["memory_idle"])
        per_process = ", ".join(map(str, mem["per_process_mb"]))
        lines.append(f"| {server} | {r['ready_s']:.2f} | {mem['total_mb']} ({per_process}) |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in data["ratios"].items()]
    return lines


def sweep_table(data: dict[str, Any]) -> list[str]:
    keys = list(data["grid"])
    lines = [f"| {' | '.join(keys)} | case | req/s | p50 ms | p99 ms | errors |"]
    lines.append("|" + "---:|" * (len(keys) + 5))
    for r in data["rows"]:
        values = " | ".join(r["setting"][k] for k in keys)
        lines.append(
            f"| {values} | {r['case']} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['errors']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    for name in argv if argv is not None else sys.argv[1:]:
        data = json.loads(Path(name).read_text())
        if "rows" in data and "grid" in data:
            lines = sweep_table(data)
        elif "rows" in data:
            lines = backends_table(data)
        else:
            lines = bench_table(data)
        print(f"<!-- {name} -->\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
