"""Scene validation: the schema (through the pydantic models) plus the semantic checks a schema
cannot express. Paths are JSON Pointers into the submitted document (``/nodes/3/choices/0/target``).

Errors make a scene unusable: unique ids, the start node, every ``next``/``target`` existing, and
loops that can never reach an end. Warnings point at likely mistakes that still run: unreachable
nodes, variables used but never declared, dead ends, choices that can never be offered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from comfyvn.core.errors import InvalidInput

from comfyvn.scenario.models import LINE_KINDS, Node, Scene, gc_paused, parse_scene

_BEAT_KINDS = LINE_KINDS | {"background", "show", "hide", "music", "sound", "wait", "transition"}
MAX_TRAPPED_LISTED = 10
M = TypeVar("M", bound=BaseModel)
_WHO = {"say": "speaker", "direction": "character", "show": "character", "hide": "character"}


@dataclass
class Problem:
    path: str
    message: str
    code: str
    severity: str = "error"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "code": self.code, "severity": self.severity}


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    scene: Scene | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "errors": [p.as_dict() for p in self.errors],
                "warnings": [p.as_dict() for p in self.warnings]}

    def error(self, path: str, message: str, code: str) -> None:
        self.errors.append(Problem(path, message, code))

    def warn(self, path: str, message: str, code: str) -> None:
        self.warnings.append(Problem(path, message, code, "warning"))


def pointer(*parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts) or "/"


def _loc_to_pointer(loc: tuple[Any, ...]) -> str:
    parts: list[Any] = []
    for item in loc:
        # discriminated unions add the tag ('say', ...) after the list index; pydantic's own
        # wrappers ('function-after[...]') are not part of the document either
        if isinstance(item, str) and (
            (item in _BEAT_KINDS and parts and isinstance(parts[-1], int)) or "[" in item
        ):
            continue
        parts.append(item)
    return pointer(*parts)


def schema_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (put free-form data under 'metadata')"
        problems.append(Problem(_loc_to_pointer(tuple(err["loc"])), message, f"schema.{err['type']}"))
    return problems


def validated(model: type[M], values: Any, what: str, prefix: str = "") -> M:
    """``model`` built from ``values``, or 422 naming the first problem (all of them in
    ``details.errors``, paths prefixed with ``prefix``, e.g. ``/state``)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = [p.as_dict() | {"path": prefix + p.path} for p in schema_problems(exc)]
        raise InvalidInput(f"invalid {what}: {problems[0]['path']}: {problems[0]['message']}",
                           details={"errors": problems}) from None


def validate(data: Any) -> Report:
    """Check a scene document; ``report.scene`` is the parsed model when the schema accepted it."""
    report = Report()
    if not isinstance(data, dict):
        report.error("/", f"a scene must be a JSON object, not {type(data).__name__}", "schema.type")
        return report
    try:
        scene = parse_scene(data)
    except ValidationError as exc:
        report.errors.extend(schema_problems(exc))
        return report
    report.scene = scene
    with gc_paused():
        check_semantics(scene, report)
    return report


def check_semantics(scene: Scene, report: Report) -> None:
    index: dict[str, int] = {}
    for i, node in enumerate(scene.nodes):
        if node.id in index:
            report.error(pointer("nodes", i, "id"), f"duplicate node id {node.id!r} (first at /nodes/{index[node.id]})",
                         "duplicate_id")
        else:
            index[node.id] = i
    if scene.start not in index:
        report.error("/start", f"start node {scene.start!r} does not exist", "unknown_target")
    _check_ids_and_targets(scene, index, report)
    edges = {node.id: _targets(node, index) for node in scene.nodes}
    reachable = _reachable([scene.start], edges) if scene.start in index else set()
    for i, node in enumerate(scene.nodes):
        if node.id not in reachable and index.get(node.id) == i and scene.start in index:
            report.warn(pointer("nodes", i), f"node {node.id!r} cannot be reached from the start", "unreachable")
    _check_exits(scene, index, edges, reachable, report)
    _check_variables(scene, report)
    _check_cast(scene, report)


def _targets(node: Node, index: dict[str, int]) -> list[str]:
    if node.is_end:
        return []
    out = [c.target for c in node.choices if c.target in index]
    if node.next in index:
        out.append(node.next)
    return out


def _reachable(starts: list[str], edges: dict[str, list[str]]) -> set[str]:
    """Every node reachable from ``starts`` (included) along ``edges``."""
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _check_ids_and_targets(scene: Scene, index: dict[str, int], report: Report) -> None:
    choice_ids: dict[str, tuple[int, str, int]] = {}
    beat_ids: dict[str, tuple[int, int]] = {}
    for i, node in enumerate(scene.nodes):
        if node.next is not None and node.next not in index:
            report.error(pointer("nodes", i, "next"), f"next node {node.next!r} does not exist", "unknown_target")
        if node.is_end and (node.next or node.choices):
            report.warn(pointer("nodes", i), f"end node {node.id!r} ignores its next/choices", "end_with_exits")
        if node.type in ("choice", "random") and not node.choices:
            report.warn(pointer("nodes", i, "choices"), f"{node.type} node {node.id!r} has no choices",
                        "no_choices")
        for j, choice in enumerate(node.choices):
            if choice.id in choice_ids:
                first = pointer("nodes", *choice_ids[choice.id])
                report.error(pointer("nodes", i, "choices", j, "id"),
                             f"duplicate choice id {choice.id!r} (first at {first})", "duplicate_id")
            else:
                choice_ids[choice.id] = (i, "choices", j)
            if choice.target not in index:
                report.error(pointer("nodes", i, "choices", j, "target"),
                             f"choice target {choice.target!r} does not exist", "unknown_target")
            if choice.weight == 0:
                report.warn(pointer("nodes", i, "choices", j, "weight"),
                            f"choice {choice.id!r} has weight 0 and is never offered", "zero_weight")
        for k, beat in enumerate(node.beats):
            if beat.id is None:
                continue
            if beat.id in index and scene.nodes[index[beat.id]].text is not None:
                report.error(pointer("nodes", i, "beats", k, "id"),
                             f"line id {beat.id!r} is taken by node {beat.id!r}'s own line (its text); "
                             "pick another id", "duplicate_id")
            elif beat.id in beat_ids:
                first = beat_ids[beat.id]
                report.error(pointer("nodes", i, "beats", k, "id"),
                             f"duplicate line id {beat.id!r} (first at {pointer('nodes', first[0], 'beats', first[1], 'id')})",
                             "duplicate_id")
            else:
                beat_ids[beat.id] = (i, k)


def _check_exits(scene: Scene, index: dict[str, int], edges: dict[str, list[str]], reachable: set[str],
                 report: Report) -> None:
    """Reachable nodes from which no ending can be reached loop forever: an error."""
    terminals = [n.id for n in scene.nodes if not edges[n.id] or n.is_end]
    reverse: dict[str, list[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            reverse.setdefault(target, []).append(source)
    can_end = _reachable(terminals, reverse)
    trapped = [n.id for n in scene.nodes if n.id in reachable and n.id not in can_end]
    if trapped:
        listed = ", ".join(repr(t) for t in trapped[:MAX_TRAPPED_LISTED])
        more = f" and {len(trapped) - MAX_TRAPPED_LISTED} more" if len(trapped) > MAX_TRAPPED_LISTED else ""
        report.error(pointer("nodes", index[trapped[0]]),
                     f"cycle without exit: no ending can be reached from {listed}{more}", "cycle_without_exit")
    for node in scene.nodes:
        if node.id in reachable and not node.is_end and not node.next and not node.choices:
            report.warn(pointer("nodes", index[node.id]),
                        f"node {node.id!r} has no next, no choices and is not marked end (the story stops here)",
                        "dead_end")


def _variable_uses(scene: Scene) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every variable key a condition or action uses, with its path, in document order."""
    for i, node in enumerate(scene.nodes):
        for a, action in enumerate(node.actions):
            yield action.key, ("nodes", i, "actions", a, "key")
        for j, choice in enumerate(node.choices):
            for c, condition in enumerate(choice.conditions):
                yield condition.key, ("nodes", i, "choices", j, "conditions", c, "key")
            for a, action in enumerate(choice.actions):
                yield action.key, ("nodes", i, "choices", j, "actions", a, "key")


def _check_variables(scene: Scene, report: Report) -> None:
    nodes = scene.nodes
    used = {a.key for n in nodes for a in n.actions}
    used.update(x.key for n in nodes for c in n.choices for x in c.conditions)
    used.update(x.key for n in nodes for c in n.choices for x in c.actions)
    missing = {key.split(".", 1)[0] for key in used} - set(scene.variables)
    if not missing:  # the common case: one fast pass, no paths built
        return
    for key, path in _variable_uses(scene):
        root = key.split(".", 1)[0]
        if root in missing:
            missing.discard(root)
            report.warn(pointer(*path), f"variable {root!r} is used but not declared in the scene's variables",
                        "undefined_variable")


def _cast_uses(scene: Scene) -> Iterator[tuple[str, str]]:
    """Every speaker or character name the nodes use, with its path, in document order."""
    for i, node in enumerate(scene.nodes):
        if node.speaker:
            yield node.speaker, f"/nodes/{i}/speaker"
        for k, beat in enumerate(node.beats):
            field = _WHO.get(beat.kind)
            who = getattr(beat, field) if field else None
            if who:
                yield who, f"/nodes/{i}/beats/{k}"


def _check_cast(scene: Scene, report: Report) -> None:
    if not scene.cast:
        return
    known = {m.id for m in scene.cast} | {m.name for m in scene.cast}
    names = {n.speaker for n in scene.nodes if n.speaker}
    names.update(getattr(b, _WHO[b.kind]) for n in scene.nodes for b in n.beats if b.kind in _WHO)
    missing = names - known - {None}
    for who, path in _cast_uses(scene) if missing else ():
        if who in missing:
            missing.discard(who)
            report.warn(path, f"{who!r} is not in the scene's cast", "unknown_cast")
