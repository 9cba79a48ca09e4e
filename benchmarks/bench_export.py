"""Ren'Py export speed: a generated 10,000-node project, against Ren'Py's own lint of the output.

In a fresh runtime root, the seeded story generator (``benchmarks/storygen.py``, with beats: say
lines, narration, directions, backgrounds, shows) makes one 10,000-node scene in a project. Timed:
- ``export``: ``comfyvn.export.service.export_renpy`` without lint (read the scene from the
  project, plan the stage, write the script, our base game and the manifest), best of 3;
- ``lint``: Ren'Py's ``lint --error-code`` on that output (Debian's Ren'Py 8.0.3 with our fix).
Also checked: two exports are byte-identical, and lint reports no errors.

Goal: export time at most 0.1x the lint time; output lint-clean; deterministic. Prints JSON.

    python benchmarks/bench_export.py [--nodes 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COMFYVN_RUNTIME_ROOT"] = str(Path(tmp) / "runtime")
        from benchmarks import storygen
        from comfyvn.export import exporter, renpy_tool
        from comfyvn.export.service import export_renpy
        from comfyvn.projects import store

        store.require_project("default")
        store.collection("scene").create("default", storygen.scene_json(storygen.generate(args.nodes), beats=True))
        times = []
        for n in range(3):
            out = Path(tmp) / f"game{n}"
            started = time.perf_counter()
            export_renpy("default", out=out, lint=False)
            times.append(time.perf_counter() - started)
        first = {p.relative_to(Path(tmp) / "game0").as_posix(): p.read_bytes()
                 for p in (Path(tmp) / "game0").rglob("*") if p.is_file()}
        second = {p.relative_to(Path(tmp) / "game1").as_posix(): p.read_bytes()
                  for p in (Path(tmp) / "game1").rglob("*") if p.is_file()}
        renpy = renpy_tool.find_renpy()
        lint = renpy_tool.lint(Path(tmp) / "game0", renpy=renpy) if renpy else None
        size = sum(len(v) for k, v in first.items() if k.endswith(".rpy"))
        manifest = json.loads(first[exporter.MANIFEST])
    export_seconds = min(times)
    result = {
        "benchmark": "renpy_export", "nodes": args.nodes, "labels": len(manifest["scenes"][0]["nodes"]) + 1,
        "script_mb": round(size / 1e6, 2), "export_seconds": round(export_seconds, 3),
        "lint_seconds": round(lint.seconds, 2) if lint else None,
        "ratio": round(export_seconds / lint.seconds, 3) if lint else None,
        "lint_ok": lint.ok if lint else None, "lint_errors": lint.errors[:5] if lint else None,
        "deterministic": first == second,
        "goal": f"export <= {GOAL_RATIO}x lint time, lint-clean, byte-identical",
    }
    result["goal_met"] = bool(lint and lint.ok and result["deterministic"] and result["ratio"] <= GOAL_RATIO)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
