"""Scenario operations the routes (and the Studio, and the playtest harness) share: find the scene
a request means, validate it, step it, and tell the hook bus."""

from __future__ import annotations

from typing import Any

from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.scenario.models import Scene
from comfyvn.scenario.runner import RunState, ScenarioRunner
from comfyvn.scenario.validate import validate


def load_valid(data: Any) -> Scene:
    """The scene in ``data``, or 422 listing every error (warnings do not block)."""
    report = validate(data)
    if not report.valid:
        first = report.errors[0]
        raise InvalidInput(
            f"scene is not valid: {first.path}: {first.message}"
            + (f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""),
            code="invalid_scene",
            details={"errors": [p.as_dict() for p in report.errors]},
        )
    assert report.scene is not None
    return report.scene


def resolve_scene(scene: dict[str, Any] | None = None, scene_id: str | None = None,
                  project: str | None = None) -> Scene:
    """The scene given inline, or the stored scene ``scene_id`` of ``project``."""
    if (scene is None) == (scene_id is None):
        raise InvalidInput("give exactly one of 'scene' (the scene itself) or 'scene_id' (a stored scene)")
    if scene is not None:
        return load_valid(scene)
    from comfyvn.projects import store

    return store.get_scene(project or store.DEFAULT_PROJECT, scene_id)  # validated by the store


def emit_entry(runner: ScenarioRunner, state: RunState) -> None:
    modder_hooks.emit("on_scene_enter", {
        "scene_id": state.scene_id, "node_id": state.node, "pov": state.pov, "step": state.step,
        "finished": state.finished,
    })
    choices = runner.choices(state)
    if choices:
        modder_hooks.emit("on_choice_render", {
            "scene_id": state.scene_id, "node_id": state.node, "pov": state.pov,
            "choices": [{"id": c.id, "label": c.label, "target": c.target} for c in choices],
        })


def describe(runner: ScenarioRunner, state: RunState) -> dict[str, Any]:
    """The answer of a step: the state, the node entered (with its lines in play order), the
    choices offered and whether the run is over."""
    node = runner.node(state)
    return {
        "state": state.model_dump(mode="json"),
        "node": node.model_dump(mode="json", exclude_none=True) | {
            "lines": [line.model_dump(mode="json", exclude_none=True) for line in node.lines()]},
        "choices": [c.model_dump(mode="json", exclude_none=True) for c in runner.choices(state)],
        "finished": state.finished,
        "reason": state.reason,
    }


def step(scene: Scene, *, state: dict[str, Any] | None = None, seed: int | str | None = None,
         choice_id: str | None = None, pov: str | None = None, variables: dict[str, Any] | None = None,
         history_limit: int | None = None, advance: bool = True) -> tuple[ScenarioRunner, RunState]:
    """Start a run (no ``state``) or take one step from ``state`` (``advance=False``: only load
    and check the state); emits the entry events of the node it stands on after a move."""
    runner = ScenarioRunner(scene) if history_limit is None else ScenarioRunner(scene, history_limit=history_limit)
    if state is None:
        if choice_id is not None:
            raise InvalidInput("choice_id needs a state: the first request starts the run at the start node")
        new = runner.start(seed=seed, variables=variables, pov=pov)
    else:
        if seed is not None or variables is not None:
            raise InvalidInput("'seed' and 'variables' only apply when starting a run; leave them out when "
                               "sending a 'state' (the state carries its own)")
        current = parse_state(state, scene)
        if pov is not None:
            current.pov = pov
        if not advance:
            return runner, current
        new = runner.step(current, choice_id)
    emit_entry(runner, new)
    return runner, new


def parse_state(state: dict[str, Any], scene: Scene) -> RunState:
    from comfyvn.scenario.validate import validated

    parsed = validated(RunState, state, "state", prefix="/state")
    if parsed.scene_id != scene.id:
        raise InvalidInput(f"state belongs to scene {parsed.scene_id!r}, not {scene.id!r}")
    if parsed.node not in {n.id for n in scene.nodes}:
        raise InvalidInput(f"state points at node {parsed.node!r}, which the scene no longer has",
                           code="stale_state", details={"node": parsed.node})
    return parsed
