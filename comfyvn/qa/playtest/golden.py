"""Golden traces: compare a run with a stored trace and say where they part.

``compare_traces(actual, golden)`` takes trace documents (``{"digest", "provenance", "trace"}``),
bare traces, or paths to trace files. Provenance (tool version, run id, time) is never compared;
both digests are recomputed from the traces, so a hand-edited golden cannot lie about its digest.

Fields are compared in play order: the run's inputs (seed, POV, variables, forced choices,
max_steps), then each step, then the final state and outcome, and last ``scene_digest`` (a scene
edit that changes nothing the player sees still shows up, as the last difference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.qa.playtest.harness import (
    PlaytestResult,
    as_scene,
    inputs_of,
    run,
    trace_digest,
)
from comfyvn.scenario.models import Scene

MAX_DIFFERENCES = 20
_HEAD = ("format", "scene_id", "seed", "pov", "variables", "choices", "max_steps")
_TAIL = ("final", "finished", "reason", "scene_digest")
_STEP_ORDER = ("step", "node", "via", "choice", "lines", "variables")  # most telling first

TraceSource = dict[str, Any] | str | Path | PlaytestResult


@dataclass
class TraceComparison:
    equal: bool
    actual_digest: str
    expected_digest: str
    divergence: dict[str, Any] | None = None  # the first difference: step, node, field, expected, actual
    differences: list[str] = field(default_factory=list)  # readable, in play order, at most MAX_DIFFERENCES
    total_differences: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"equal": self.equal, "actual_digest": self.actual_digest, "expected_digest": self.expected_digest,
                "divergence": self.divergence, "differences": list(self.differences),
                "total_differences": self.total_differences}

    def summary(self) -> str:
        if self.equal:
            return f"traces are equal (digest {self.actual_digest})"
        return f"traces differ ({self.total_differences} difference(s)); first: {self.differences[0]}"


def load_trace(source: TraceSource) -> dict[str, Any]:
    """The bare trace from a document, a trace, a ``PlaytestResult`` or a file path."""
    if isinstance(source, PlaytestResult):
        return source.trace
    if isinstance(source, (str, Path)):
        path = Path(source)
        # Plain read on purpose: store.read_json would move a broken file aside, and a golden
        # file is the user's checked-in input, not our store.
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"trace file {str(path)!r} does not exist; run with --update-golden to create it",
                           details={"path": str(path)}) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"trace file {str(path)!r} is not valid JSON: {exc}",
                               details={"path": str(path)}) from None
        source = data
    if not isinstance(source, dict):
        raise InvalidInput("a trace must be a JSON object (a trace document or its 'trace' part)")
    trace = source["trace"] if isinstance(source.get("trace"), dict) else source
    if not isinstance(trace.get("steps"), list):
        raise InvalidInput("not a playtest trace: no 'steps' list (write one with the playtest harness)")
    return trace


def _leaves(expected: Any, actual: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Every (path, expected, actual) where two JSON values differ, keys sorted (lists of
    different lengths are one difference, shown whole)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else key
            if key not in expected or key not in actual:
                out.append((sub, expected.get(key, "<missing>"), actual.get(key, "<missing>")))
            else:
                out.extend(_leaves(expected[key], actual[key], sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for index, (left, right) in enumerate(zip(expected, actual)):
            out.extend(_leaves(left, right, f"{path}[{index}]"))
        return out
    if expected != actual or type(expected) is not type(actual):
        return [(path, expected, actual)]
    return []


def _entered(step: Any) -> str:
    return f"enters {step.get('node')!r}" if isinstance(step, dict) else "<no step>"


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def compare_traces(actual: TraceSource, golden: TraceSource, *,
                   ignore: tuple[str, ...] = ()) -> TraceComparison:
    """Compare a run (``actual``) with the expected ``golden`` trace.

    ``ignore`` lists top-level trace fields to skip (``("scene_digest",)`` accepts scene edits
    that leave play unchanged). The result's ``divergence`` is the first difference in play order:
    ``{"step", "node", "field", "expected", "actual"}`` (``step``/``node`` are null outside steps).
    """
    got, want = load_trace(actual), load_trace(golden)
    found: list[dict[str, Any]] = []
    for key in _HEAD:
        if key not in ignore:
            found += [{"step": None, "node": None, "field": p, "expected": e, "actual": a}
                      for p, e, a in _leaves(want.get(key), got.get(key), key)]
    if "steps" not in ignore:
        wanted_steps, got_steps = want["steps"], got["steps"]
        for index in range(max(len(wanted_steps), len(got_steps))):
            left = wanted_steps[index] if index < len(wanted_steps) else None
            right = got_steps[index] if index < len(got_steps) else None
            node = next((s.get("node") for s in (left, right) if isinstance(s, dict)), None)
            if not isinstance(left, dict) or not isinstance(right, dict):
                found.append({"step": index, "node": node, "field": "step",
                              "expected": _entered(left), "actual": _entered(right)})
                continue
            keys = [k for k in _STEP_ORDER if k in left or k in right]
            keys += sorted((set(left) | set(right)) - set(keys))
            for key in keys:
                found += [{"step": index, "node": node, "field": p, "expected": e, "actual": a}
                          for p, e, a in _leaves(left.get(key, "<missing>"), right.get(key, "<missing>"), key)]
    for key in _TAIL:
        if key not in ignore:
            found += [{"step": None, "node": None, "field": p, "expected": e, "actual": a}
                      for p, e, a in _leaves(want.get(key), got.get(key), key)]
    readable = []
    for item in found[:MAX_DIFFERENCES]:
        where = f"step {item['step']} (node {item['node']!r}): " if item["step"] is not None else ""
        readable.append(f"{where}{item['field']}: expected {_show(item['expected'])}, got {_show(item['actual'])}")
    if len(found) > MAX_DIFFERENCES:
        readable.append(f"... and {len(found) - MAX_DIFFERENCES} more")
    return TraceComparison(equal=not found, actual_digest=trace_digest(got), expected_digest=trace_digest(want),
                           divergence=found[0] if found else None, differences=readable,
                           total_differences=len(found))


def replay(golden: TraceSource, scene: Scene | dict[str, Any], *, emit: bool = False,
           **overrides: Any) -> PlaytestResult:
    """Run ``scene`` again with the inputs recorded in ``golden`` (keyword ``overrides`` win)."""
    inputs = inputs_of(load_trace(golden))
    inputs.update({k: v for k, v in overrides.items() if v is not None})
    return run(as_scene(scene), emit=emit, **inputs)


def check_golden(scene: Scene | dict[str, Any], golden: TraceSource, *, emit: bool = False) -> TraceComparison:
    """Replay ``golden``'s inputs on ``scene`` and compare the result with it."""
    return compare_traces(replay(golden, scene, emit=emit), golden)
