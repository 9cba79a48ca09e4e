#!/usr/bin/env python3
"""Run every benchmark (benchmarks/bench_*.py) and print one JSON document with their results.

    python benchmarks/run_all.py [--only hook_fanout]

Each benchmark is a script that prints JSON; a failing one is reported with its error and makes
the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    import psutil

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_total": psutil.virtual_memory().total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run only benchmarks whose name contains this")
    args = parser.parse_args()
    results: dict[str, object] = {}
    failed = False
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if args.only and not any(part in name for part in args.only):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
        elapsed = round(time.perf_counter() - started, 2)
        try:
            results[name] = {**json.loads(result.stdout), "wall_seconds": elapsed}
        except ValueError:
            failed = True
            results[name] = {"error": f"exit code {result.returncode}", "stderr": result.stderr[-2000:]}
        if result.returncode != 0:
            failed = True
    print(json.dumps({"machine": machine(), "benchmarks": results}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
