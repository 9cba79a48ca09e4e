"""Coverage mode: explore every choice path of a scene (bounded) and report what play can reach.

A breadth-first search over run states. A state is (node, variables); two paths reaching the same
node with equal variables continue identically, so each such state is expanded once. That is what
makes loops terminate: going round a loop that changes nothing reaches a state already seen.
Loops that change a variable every time (a counter) make new states, so two bounds stop the
search: ``max_depth`` (steps from the start) and ``max_states`` (distinct states kept). When a
bound cut the search, ``complete`` is false and the unreached nodes may still be reachable.

Every available choice is a branch: at choice nodes and at random nodes alike (every weighted
option > 0 is followed, so the seed does not matter). POV, conditions and weights filter exactly
as in a run, because the steps are taken by the same ``ScenarioRunner``.

Each dead end and ending comes with the shortest list of choice ids that reaches it; passing that
list as ``choices`` to a playtest run reproduces the path.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from comfyvn.core.errors import InvalidInput
from comfyvn.qa.playtest.harness import as_scene
from comfyvn.scenario import logic
from comfyvn.scenario.models import Scene
from comfyvn.scenario.runner import RunState, ScenarioRunner

DEFAULT_MAX_DEPTH = 500
DEFAULT_MAX_STATES = 20_000
MAX_DEPTH_LIMIT = 100_000
MAX_STATES_LIMIT = 200_000

_Key = tuple[str, str]


def _key(node: str, variables: dict[str, Any]) -> _Key:
    return node, json.dumps(variables, sort_keys=True, separators=(",", ":"))


def _edges(scene: Scene) -> dict[str, list[str]]:
    ids = {node.id for node in scene.nodes}
    out = {}
    for node in scene.nodes:
        targets = [] if node.is_end else [c.target for c in node.choices] + ([node.next] if node.next else [])
        out[node.id] = [t for t in targets if t in ids]
    return out


def _graph_reachable(scene: Scene) -> set[str]:
    edges = _edges(scene)
    seen = {scene.start}
    queue = deque([scene.start])
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _check_bound(name: str, value: Any, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInput(f"{name} must be an integer from 1 to {limit}, got {value!r}")
    return value


def explore(scene: Scene | dict[str, Any], *, pov: str | None = None, variables: dict[str, Any] | None = None,
            max_depth: int = DEFAULT_MAX_DEPTH, max_states: int = DEFAULT_MAX_STATES) -> dict[str, Any]:
    """Explore ``scene`` from its start; see the module docstring for the report's meaning."""
    model = as_scene(scene)
    _check_bound("max_depth", max_depth, MAX_DEPTH_LIMIT)
    _check_bound("max_states", max_states, MAX_STATES_LIMIT)
    if variables is not None and not isinstance(variables, dict):
        raise InvalidInput("variables must be a JSON object of variable overrides")
    runner = ScenarioRunner(model, history_limit=0)
    start = runner.start(seed=0, variables=variables, pov=pov)
    effective_pov = start.pov

    parents: dict[_Key, tuple[_Key | None, str | None]] = {}
    visited: set[str] = {start.node}
    taken: set[str] = set()
    dead_ends: dict[str, dict[str, Any]] = {}
    endings: dict[str, dict[str, Any]] = {}
    cut_depth = cut_states = False
    deepest = 0

    def path(key: _Key | None, last: str | None = None) -> list[str]:
        ids = [last] if last else []
        while key is not None:
            key, choice = parents[key]
            if choice:
                ids.append(choice)
        return ids[::-1]

    def finished(state: RunState, parent: _Key | None, choice: str | None) -> None:
        record = dead_ends if state.reason in ("dead_end", "no_choices") else endings
        if state.node not in record:
            entry: dict[str, Any] = {"node": state.node, "choices": path(parent, choice), "step": state.step}
            if record is dead_ends:
                entry["reason"] = state.reason
            record[state.node] = entry

    start_key = _key(start.node, start.vars)
    parents[start_key] = (None, None)
    queue: deque[tuple[_Key, str, dict[str, Any], int]] = deque()
    if start.finished:
        finished(start, None, None)
    else:
        queue.append((start_key, start.node, start.vars, 0))
    while queue:
        key, node, values, depth = queue.popleft()
        if depth >= max_depth:
            cut_depth = True
            continue
        here = RunState.model_construct(scene_id=model.id, seed=0, pov=effective_pov, node=node, vars=values,
                                        rng=start.rng, step=depth, finished=False, reason=None, trace=[],
                                        history=[])
        offered = [c.id for c in runner.choices(here)] or [None]
        for choice in offered:
            state = here.model_copy(update={"vars": logic.clone(values), "trace": []})
            runner.advance(state, choice)
            if choice:
                taken.add(choice)
            visited.add(state.node)
            deepest = max(deepest, state.step)
            if state.finished:
                finished(state, key, choice)
                continue
            new_key = _key(state.node, state.vars)
            if new_key in parents:
                continue
            if len(parents) >= max_states:
                cut_states = True
                continue
            parents[new_key] = (key, choice)
            queue.append((new_key, state.node, state.vars, state.step))

    in_graph = _graph_reachable(model)
    all_choices = [c.id for n in model.nodes for c in n.choices]
    return {
        "scene_id": model.id,
        "pov": effective_pov,
        "complete": not (cut_depth or cut_states),
        "cut": {"depth": cut_depth, "states": cut_states},
        "limits": {"max_depth": max_depth, "max_states": max_states},
        "states": len(parents),
        "max_depth_reached": deepest,
        "nodes": {"total": len(model.nodes), "visited": len(visited)},
        "visited": [n.id for n in model.nodes if n.id in visited],
        "unreachable": [{"node": n.id, "cause": "not_reached" if n.id in in_graph else "no_path"}
                        for n in model.nodes if n.id not in visited],
        "dead_ends": [dead_ends[n.id] for n in model.nodes if n.id in dead_ends],
        "endings": [endings[n.id] for n in model.nodes if n.id in endings],
        "choices": {"total": len(all_choices), "taken": len(taken),
                    "never_taken": [c for c in all_choices if c not in taken]},
    }
