"""Headless playtest runs: a scene played by the deterministic runner and recorded as a canonical
JSON trace with a SHA-256 digest.

A run gives a *document*::

    {"digest": "<sha256 of the trace's canonical bytes>",
     "provenance": {"tool", "version", "rng", "run_id", "created_at"},
     "trace": {"format", "scene_id", "scene_digest", "seed", "pov", "variables", "choices",
               "max_steps", "steps": [...], "final": {...}, "finished", "reason"}}

Only ``trace`` is digested. It holds no timestamps and nothing that depends on the machine, so the
same scene + seed + POV + variables + forced choices give the same digest everywhere. Canonical
bytes are compact JSON with sorted keys, UTF-8, no NaN/Infinity.

``persist`` writes ``<logs>/playtest/<scene>-<seed>-<digest12>.trace.json`` (the document) and a
``.log`` companion (one line per step, for people) next to it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from comfyvn import __version__
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes, atomic_write_json, canonical_bytes, digest
from comfyvn.scenario import logic
from comfyvn.scenario.models import LINE_KINDS, Scene
from comfyvn.scenario.rng import ALGORITHM
from comfyvn.scenario.runner import RunState, ScenarioRunner
from comfyvn.scenario.service import load_valid

TRACE_FORMAT = "comfyvn.playtest.trace/1"
TOOL = "comfyvn.qa.playtest"
DEFAULT_MAX_STEPS = 1000
MAX_STEPS_LIMIT = 100_000


# -- canonical form -----------------------------------------------------------------------------

def scene_digest(scene: Scene) -> str:
    """SHA-256 of the scene's canonical JSON (``Scene.to_json()``)."""
    return scene.digest()


def trace_digest(trace: dict[str, Any]) -> str:
    return digest(trace)


def as_scene(scene: Scene | dict[str, Any]) -> Scene:
    """A parsed, valid scene (a dict is validated; 422 ``invalid_scene`` lists the errors)."""
    return scene if isinstance(scene, Scene) else load_valid(scene)


# -- one run ------------------------------------------------------------------------------------

@dataclass
class PlaytestResult:
    run_id: str
    trace: dict[str, Any]
    digest: str
    provenance: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Steps taken (the start node is not a step)."""
        return len(self.trace["steps"]) - 1

    def document(self) -> dict[str, Any]:
        """What a trace file holds: digest, provenance and the digested trace."""
        return {"digest": self.digest, "provenance": self.provenance, "trace": self.trace}


def _lines(runner: ScenarioRunner, state: RunState) -> list[dict[str, Any]]:
    shown = []
    for line in runner.node(state).lines():
        if line.kind in LINE_KINDS:
            shown.append({"kind": line.kind, "speaker": getattr(line, "speaker", None), "text": line.text})
    return shown


def _record(runner: ScenarioRunner, state: RunState) -> dict[str, Any]:
    entry = state.trace[-1]
    return {"step": state.step, "node": state.node, "via": entry.via, "choice": entry.choice,
            "lines": _lines(runner, state), "variables": logic.clone(state.vars)}


def run(scene: Scene | dict[str, Any], *, seed: int | str | None = 0, pov: str | None = None,
        variables: dict[str, Any] | None = None, choices: list[str] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS, emit: bool = True) -> PlaytestResult:
    """Play ``scene`` from its start until it finishes or ``max_steps`` steps were taken.

    ``choices`` are taken in order at nodes that offer choices (choice and random nodes alike);
    after they run out, picks are random by weight from ``seed``. A forced choice that is not on
    offer raises 422. With ``emit`` the run publishes ``on_playtest_start``, one
    ``on_playtest_step`` per step and ``on_playtest_finished``.
    """
    model = as_scene(scene)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS_LIMIT:
        raise InvalidInput(f"max_steps must be an integer from 1 to {MAX_STEPS_LIMIT}, got {max_steps!r}")
    if variables is not None and not isinstance(variables, dict):
        raise InvalidInput("variables must be a JSON object of variable overrides")
    seed = 0 if seed is None else seed
    forced = list(choices or [])
    canonical_bytes(variables or {})  # refuse NaN/Infinity before anything runs
    runner = ScenarioRunner(model, history_limit=0)
    state = runner.start(seed=seed, variables=variables, pov=pov)
    run_id = uuid.uuid4().hex[:16]  # an identifier only: story randomness comes from StoryRandom
    if emit:
        modder_hooks.emit("on_playtest_start",
                          {"scene_id": model.id, "seed": seed, "pov": state.pov, "run_id": run_id})
    steps = [_record(runner, state)]
    queue = list(forced)
    try:
        while not state.finished and state.step < max_steps:
            wanted = queue.pop(0) if queue and runner.choices(state) else None
            runner.advance(state, wanted)
            steps.append(_record(runner, state))
            del state.trace[:-1]  # only the last entry is needed
            if emit:
                modder_hooks.emit("on_playtest_step", {"run_id": run_id, "step": state.step,
                                                       "node_id": state.node, "choice_id": steps[-1]["choice"]})
    except InvalidInput:
        if emit:  # listeners always see a start paired with a finish
            modder_hooks.emit("on_playtest_finished", {
                "run_id": run_id, "scene_id": model.id, "digest": None, "steps": state.step,
                "finished": False, "reason": "error"})
        raise
    trace = {
        "format": TRACE_FORMAT,
        "scene_id": model.id,
        "scene_digest": scene_digest(model),
        "seed": seed,
        "pov": state.pov,
        "variables": logic.clone(variables or {}),
        "choices": forced,
        "max_steps": max_steps,
        "steps": steps,
        "final": {"node": state.node, "step": state.step, "variables": logic.clone(state.vars), "rng": state.rng},
        "finished": state.finished,
        "reason": state.reason if state.finished else "max_steps",
    }
    digest = trace_digest(trace)
    provenance = {"tool": TOOL, "version": __version__, "rng": ALGORITHM, "run_id": run_id,
                  "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    warnings = [f"{len(queue)} forced choice(s) were not used: {', '.join(queue)}"] if queue else []
    if emit:
        modder_hooks.emit("on_playtest_finished", {
            "run_id": run_id, "scene_id": model.id, "digest": digest, "steps": state.step,
            "finished": state.finished, "reason": trace["reason"]})
    return PlaytestResult(run_id, trace, digest, provenance, warnings)


def inputs_of(trace: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`run` that reproduce ``trace``."""
    return {"seed": trace.get("seed", 0), "pov": trace.get("pov"), "variables": trace.get("variables") or None,
            "choices": list(trace.get("choices") or []), "max_steps": trace.get("max_steps", DEFAULT_MAX_STEPS)}


# -- files --------------------------------------------------------------------------------------

def playtest_dir() -> Path:
    from comfyvn.config import runtime_paths

    return runtime_paths.log_dir() / "playtest"


def _safe(text: str, limit: int = 64) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:limit] or "_"


def paths_for(result: PlaytestResult, directory: Path | None = None) -> dict[str, Path]:
    """Where :func:`persist` writes (or would write) the trace and its log."""
    folder = Path(directory) if directory is not None else playtest_dir()
    base = f"{_safe(result.trace['scene_id'], 128)}-{_safe(str(result.trace['seed']))}-{result.digest[:12]}"
    return {"trace": folder / f"{base}.trace.json", "log": folder / f"{base}.log"}


def persist(result: PlaytestResult, directory: Path | None = None) -> dict[str, Path]:
    """Write the trace document and its ``.log`` companion atomically (the log first, so a trace
    file on disk always has its log)."""
    paths = paths_for(result, directory)
    atomic_write_bytes(paths["log"], render_log(result).encode("utf-8"))
    atomic_write_json(paths["trace"], result.document())
    return paths


def _short(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            parts.append(f"{key} cleared")
        elif before.get(key, ...) != after[key]:
            parts.append(f"{key}={_short(after[key])}")
    return ", ".join(parts)


def render_log(result: PlaytestResult) -> str:
    """The human-readable companion: a header, one line per step, the outcome."""
    trace, prov = result.trace, result.provenance
    out = [
        f"# playtest of scene {trace['scene_id']!r}: seed {trace['seed']!r}, pov {trace['pov']!r}",
        f"# digest {result.digest}",
        f"# {prov['tool']} {prov['version']}, rng {prov['rng']}, run {prov['run_id']}, {prov['created_at']}",
    ]
    previous: dict[str, Any] = {}
    for entry in trace["steps"]:
        how = entry["via"] + (f" {entry['choice']}" if entry["choice"] else "")
        said = " / ".join(f"{ln['speaker']}: {ln['text']}" if ln["speaker"] else f"({ln['kind']}) {ln['text']}"
                          for ln in entry["lines"])
        changed = _changes(previous, entry["variables"])
        line = f"{entry['step']:04d} {how} -> {entry['node']}"
        if said:
            line += f" | {said}"
        if changed:
            line += f" | {changed}"
        out.append(line.replace("\n", " "))
        previous = entry["variables"]
    final = trace["final"]
    if trace["finished"]:
        out.append(f"# finished ({trace['reason']}) at node {final['node']!r} after {final['step']} step(s)")
    else:
        out.append(f"# stopped at node {final['node']!r}: max_steps ({trace['max_steps']}) reached")
    return "\n".join(out) + "\n"
