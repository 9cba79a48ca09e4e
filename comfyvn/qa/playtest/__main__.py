"""``python -m comfyvn.qa.playtest``: headless runs, golden checks and coverage from the shell.

    python -m comfyvn.qa.playtest run SCENE.json [--seed N] [--pov P] [--var KEY=VALUE]... [--choice ID]...
                                      [--max-steps N] [--golden FILE] [--update-golden] [--persist] [--trace]
    python -m comfyvn.qa.playtest coverage SCENE.json [--pov P] [--var KEY=VALUE]... [--max-depth N]
                                      [--max-states N]

Prints JSON on stdout. Exit codes: 0 ok, 1 the run differs from the golden trace (the first
divergence is printed on stderr), 2 bad input (missing or invalid file, bad option).
With ``--golden FILE``, options not given on the command line take the values recorded in FILE,
so ``run scene.json --golden scene.golden.json`` replays exactly what the golden recorded.
The CLI does not publish hook-bus events (nothing listens in a one-shot process).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from comfyvn.core.errors import ComfyVNError, InvalidInput, NotFound
from comfyvn.core.store import atomic_write_json
from comfyvn.qa.playtest import coverage, golden, harness

EXIT_MISMATCH = 1
EXIT_ERROR = 2


def _seed(text: str) -> int | str:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _var(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--var needs KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw  # not JSON: a plain string


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m comfyvn.qa.playtest",
                                     description="Headless playtests, golden traces and choice-path coverage.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("scene", type=Path, help="scene JSON file")
        p.add_argument("--pov", default=None, help="point of view (default: the scene's)")
        p.add_argument("--var", type=_var, action="append", default=None, metavar="KEY=VALUE",
                       help="initial variable override; VALUE is JSON or a plain string (repeatable)")

    run = sub.add_parser("run", help="play the scene and print the trace digest")
    common(run)
    run.add_argument("--seed", type=_seed, default=None, help="integer or string seed (default 0)")
    run.add_argument("--choice", action="append", default=None, metavar="ID",
                     help="choice id to take at the next choice point (repeatable, in order)")
    run.add_argument("--max-steps", type=int, default=None, help=f"default {harness.DEFAULT_MAX_STEPS}")
    run.add_argument("--golden", type=Path, default=None, help="golden trace file to compare with")
    run.add_argument("--update-golden", action="store_true", help="(re)write the golden file from this run")
    run.add_argument("--persist", action="store_true", help="write the trace and .log under <logs>/playtest/")
    run.add_argument("--trace", action="store_true", help="include the whole trace in the output")

    cov = sub.add_parser("coverage", help="explore every choice path (bounded)")
    common(cov)
    cov.add_argument("--max-depth", type=int, default=coverage.DEFAULT_MAX_DEPTH)
    cov.add_argument("--max-states", type=int, default=coverage.DEFAULT_MAX_STATES)
    return parser


def _load_scene(path: Path) -> dict[str, Any]:
    # A plain read: store.read_json would move a broken file aside, and this is the user's file.
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"scene file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{str(path)!r} is a folder; give a scene JSON file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"scene file {str(path)!r} is not valid JSON: {exc}") from None
    return data


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _run(args: argparse.Namespace) -> int:
    scene = harness.as_scene(_load_scene(args.scene))
    inputs: dict[str, Any] = {"seed": 0, "pov": None, "variables": None, "choices": None,
                              "max_steps": harness.DEFAULT_MAX_STEPS}
    expected = None
    if args.golden is not None and (args.golden.exists() or not args.update_golden):
        expected = golden.load_trace(args.golden)
        inputs.update(harness.inputs_of(expected))
    given = {"seed": args.seed, "pov": args.pov, "variables": dict(args.var) if args.var else None,
             "choices": args.choice, "max_steps": args.max_steps}
    inputs.update({k: v for k, v in given.items() if v is not None})
    result = harness.run(scene, emit=False, **inputs)
    out: dict[str, Any] = {"digest": result.digest, "scene_id": scene.id, "seed": result.trace["seed"],
                           "pov": result.trace["pov"], "steps": result.steps, "finished": result.trace["finished"],
                           "reason": result.trace["reason"], "warnings": result.warnings,
                           "provenance": result.provenance}
    if args.persist:
        paths = harness.persist(result)
        out |= {"trace_path": str(paths["trace"]), "log_path": str(paths["log"])}
    if args.trace:
        out["trace"] = result.trace
    code = 0
    if args.update_golden:
        if args.golden is None:
            raise InvalidInput("--update-golden needs --golden FILE (where to write the golden trace)")
        atomic_write_json(args.golden, result.document())
        out["golden"] = {"path": str(args.golden), "updated": True}
    elif expected is not None:
        comparison = golden.compare_traces(result, expected)
        out["golden"] = {"path": str(args.golden), **comparison.as_dict()}
        if not comparison.equal:
            code = EXIT_MISMATCH
            print(f"golden mismatch against {args.golden}: {comparison.summary()}", file=sys.stderr)
            for line in comparison.differences[1:]:
                print(f"  {line}", file=sys.stderr)
            print("If the change is intended, rerun with --update-golden.", file=sys.stderr)
    _print(out)
    return code


def _coverage(args: argparse.Namespace) -> int:
    scene = harness.as_scene(_load_scene(args.scene))
    report = coverage.explore(scene, pov=args.pov, variables=dict(args.var) if args.var else None,
                              max_depth=args.max_depth, max_states=args.max_states)
    _print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _coverage(args)
    except ComfyVNError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for problem in exc.details.get("errors", [])[:10]:
            print(f"  {problem.get('path')}: {problem.get('message')}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
