"""Scene validation time for generated 1,000- and 10,000-node scenes.

The scenes come from ``benchmarks/storygen.py`` with staging beats (background, music, show,
say with provenance, direction, sound), a cast, conditional weighted choices, actions and loops:
what an imported chat log with branches looks like. Timed: ``comfyvn.scenario.validate.validate``
on the parsed JSON document (schema through the pydantic models, then the semantic checks), as
``POST /api/scenario/validate`` calls it; the JSON decoding of the request body is timed apart.
Prints JSON.

    python benchmarks/bench_validate.py [--sizes 1000,10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import storygen  # noqa: E402
from comfyvn.scenario.validate import validate  # noqa: E402

GOAL_NODES = 10_000
GOAL_SECONDS = 0.5


def measure(nodes: int, repeat: int) -> dict:
    text = json.dumps(storygen.scene_json(storygen.generate(nodes), beats=True))
    decode, check = [], []
    report = summary = None
    for _ in range(repeat):
        report = data = None  # the previous run's objects are garbage, as in a server
        gc.collect()
        started = time.perf_counter()
        data = json.loads(text)
        decoded = time.perf_counter()
        report = validate(data)
        check.append(time.perf_counter() - decoded)
        decode.append(decoded - started)
        assert report.scene is not None
        summary = {"choices": sum(len(n.choices) for n in report.scene.nodes),
                   "beats": sum(len(n.beats) for n in report.scene.nodes),
                   "errors": len(report.errors), "warnings": len(report.warnings)}
    assert summary is not None
    return {
        "nodes": nodes,
        "json_bytes": len(text),
        **summary,
        "validate_seconds": {"median": round(statistics.median(check), 4), "best": round(min(check), 4)},
        "json_decode_seconds": round(statistics.median(decode), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"1000,{GOAL_NODES}", help="comma-separated node counts")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    runs = [measure(int(size), args.repeat) for size in args.sizes.split(",")]
    result: dict = {"benchmark": "scene_validation", "repeat": args.repeat, "runs": runs,
                    "goal": f"validate a {GOAL_NODES:,}-node scene in < {GOAL_SECONDS} s (median)"}
    at_goal = [r for r in runs if r["nodes"] == GOAL_NODES]
    result["goal_met"] = bool(at_goal and at_goal[0]["validate_seconds"]["median"] < GOAL_SECONDS
                              and at_goal[0]["errors"] == 0)
    print(json.dumps(result, indent=2))
    return 0 if all(r["errors"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
