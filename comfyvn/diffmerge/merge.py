"""Three-way merges of scenes at node level, and merging one worldline into another (or into the
project's scene).

A scene is split into keyed items: each node (key: its id), each variable (``variable:<name>``),
each cast member (``cast:<id>``) and each other top-level field (``scene:<field>``). ':' never
appears in a node id, so the keys cannot collide. For every key, with ``b``/``s``/``t`` the base,
source and target versions (or missing):

- ``s == b``: the source did not touch it; the target's version stays;
- ``t == b``: only the source changed it; the source's version is applied (a deletion too);
- ``s == t``: both made the same change;
- otherwise a conflict (``edit/edit``, ``delete/edit``: source deleted what the target edited,
  ``edit/delete``, ``add/add``), reported with all three versions. A resolution map
  ``{key: "source" | "target"}`` settles it; unresolved conflicts keep the target's version in
  the preview and block a real merge.

Every source change is listed in ``source_changes`` with its outcome, so nothing is dropped
without a trace. Node order follows the target; nodes new in the source go after their
predecessor in the source. A merge is a fast-forward when the target has not changed since the
base: the result is then exactly the source.
"""

from __future__ import annotations

import copy
from typing import Any

from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.diffmerge import service
from comfyvn.pov import worldlines
from comfyvn.scenario.service import load_valid
from comfyvn.scenario.validate import validate

SIDES = ("source", "target")
_MISSING = object()
_KEYED_FIELDS = ("nodes", "variables", "cast")


def split(scene: dict[str, Any]) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for key, value in scene.items():
        if key not in _KEYED_FIELDS:
            items[f"scene:{key}"] = value
    for name, value in scene.get("variables", {}).items():
        items[f"variable:{name}"] = value
    for member in scene.get("cast", []):
        items[f"cast:{member['id']}"] = member
    for node in scene.get("nodes", []):
        items[node["id"]] = node
    return items


def merge_order(target_order: list[str], source_order: list[str], present: set[str]) -> list[str]:
    """Target order, with keys only the source has placed after their source predecessor."""
    result = [k for k in target_order if k in present]
    placed = set(result)
    previous = None
    for key in source_order:
        if key in present and key not in placed:
            at = result.index(previous) + 1 if previous in placed else 0
            result.insert(at, key)
            placed.add(key)
        if key in placed:
            previous = key
    return result


def join(items: dict[str, Any], target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    scene: dict[str, Any] = {k[len("scene:"):]: v for k, v in items.items() if k.startswith("scene:")}
    scene["variables"] = {k[len("variable:"):]: v for k, v in items.items() if k.startswith("variable:")}
    for field, prefix in (("cast", "cast:"), ("nodes", "")):
        present = {k[len(prefix):] for k in items if (k.startswith(prefix) if prefix else ":" not in k)}
        order = merge_order([x["id"] for x in target.get(field, [])], [x["id"] for x in source.get(field, [])],
                            present)
        if order or field == "nodes":
            scene[field] = [items[prefix + k] for k in order]
    return scene


def _kind(b: Any, s: Any, t: Any) -> str:
    if b is _MISSING:
        return "add/add"
    if s is _MISSING:
        return "delete/edit"
    if t is _MISSING:
        return "edit/delete"
    return "edit/edit"


def _change(b: Any, s: Any) -> str:
    return "added" if b is _MISSING else "removed" if s is _MISSING else "changed"


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value


def three_way(base: dict[str, Any], source: dict[str, Any], target: dict[str, Any],
              resolutions: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge the changes ``source`` made since ``base`` into ``target`` (see the module docstring)."""
    resolutions = dict(resolutions or {})
    bad = {k: v for k, v in resolutions.items() if v not in SIDES}
    if bad:
        raise InvalidInput(f"resolutions must be 'source' or 'target'; got {bad}", details={"resolutions": bad})
    b_items, s_items, t_items = split(base), split(source), split(target)
    keys = list(dict.fromkeys([*t_items, *s_items, *b_items]))
    merged: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    source_changes: list[dict[str, Any]] = []
    target_changes = 0
    for key in keys:
        b, s, t = (items.get(key, _MISSING) for items in (b_items, s_items, t_items))
        if s == b:
            result = t
            target_changes += t != b
        elif t == b:
            result = s
            source_changes.append({"key": key, "change": _change(b, s), "outcome": "applied"})
        elif s == t:
            result = s
            source_changes.append({"key": key, "change": _change(b, s), "outcome": "already_in_target"})
        else:
            side = resolutions.get(key)
            result = s if side == "source" else t
            conflicts.append({"key": key, "kind": _kind(b, s, t), "base": _plain(b), "source": _plain(s),
                              "target": _plain(t), "resolution": side})
            source_changes.append({"key": key, "change": _change(b, s),
                                   "outcome": f"resolved_{side}" if side else "conflict"})
        if result is not _MISSING:
            merged[key] = result
    stray = sorted(set(resolutions) - {c["key"] for c in conflicts})
    if stray:
        raise InvalidInput(
            f"resolutions name {stray}, which are not conflicts of this merge: dry-run it to see the conflicts",
            code="unknown_conflict", details={"keys": stray, "conflicts": [c["key"] for c in conflicts]},
        )
    fast_forward = target == base and source != base
    return {
        "merged": copy.deepcopy(source) if fast_forward else copy.deepcopy(join(merged, target, source)),
        "fast_forward": fast_forward,
        "up_to_date": source == base or source == target,
        "conflicts": conflicts,
        "unresolved": [c["key"] for c in conflicts if c["resolution"] is None],
        "source_changes": source_changes,
        "target_changes": target_changes,
    }


# -- merging worldlines -------------------------------------------------------------------------

def _target(project: str, record: dict[str, Any], target: str | None, target_scene: dict[str, Any] | None,
            target_scene_id: str | None) -> dict[str, Any]:
    """What to merge into: {label, scene, worldline (record or None), writable, is_parent}."""
    if sum(x is not None for x in (target, target_scene, target_scene_id)) > 1:
        raise InvalidInput("give at most one of 'target', 'target_scene' and 'target_scene_id'")
    if target_scene is not None:
        scene = load_valid(target_scene).to_json()
        return {"label": f"inline:{scene['id']}", "scene": scene, "worldline": None, "writable": False,
                "is_parent": False}
    if target is None and target_scene_id is None:
        target = record["parent"]
        target_scene_id = None if target else record["scene_id"]
    if target is not None:
        if target == record["id"]:
            raise InvalidInput(f"cannot merge worldline '{target}' into itself")
        other = worldlines.get(project, target)
        return {"label": target, "scene": other["scene"], "worldline": other, "writable": True,
                "is_parent": record["parent"] == target}
    assert target_scene_id is not None
    try:
        scene, revision = service.project_scene(project, target_scene_id)
    except NotFound as exc:
        raise NotFound(
            f"worldline '{record['id']}' would merge into scene {target_scene_id!r}, which project '{project}' "
            "does not store: save the scene first, or give 'target' (a worldline) or 'target_scene' (inline)",
            details=exc.details,
        ) from None
    return {"label": f"scene:{target_scene_id}", "scene": scene, "worldline": None, "writable": True,
            "revision": revision, "is_parent": record["parent"] is None and record["scene_id"] == target_scene_id}


def _merge(project: str, source: str, *, target: str | None = None, target_scene: dict[str, Any] | None = None,
          target_scene_id: str | None = None, dry_run: bool = False,
          resolutions: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge worldline ``source`` into ``target`` (default: its parent worldline, or the project's
    scene for a worldline forked from a scene). Writes nothing on ``dry_run``, with unresolved
    conflicts (409) or when the result does not validate (422)."""
    record = worldlines.get(project, source)
    into = _target(project, record, target, target_scene, target_scene_id)
    if into["scene"].get("id") != record["scene_id"]:
        raise InvalidInput(
            f"worldline '{source}' is a version of scene {record['scene_id']!r}, the target is scene "
            f"{into['scene'].get('id')!r}: merge into a version of the same scene",
            details={"source_scene": record["scene_id"], "target_scene": into["scene"].get("id")},
        )
    pulling = into["worldline"] is not None and into["worldline"].get("parent") == source
    base = into["worldline"]["base"] if pulling else record["base"]
    outcome = three_way(base, record["scene"], into["scene"], resolutions)
    report = validate(outcome["merged"])
    if report.scene is not None and report.valid:
        outcome["merged"] = report.scene.to_json()  # canonical form (it already is; this keeps it so)
    result = {"project": project, "source": source, "target": into["label"],
              "base_from": "target" if pulling else "source", "dry_run": dry_run, **outcome,
              "valid": report.valid, "errors": [p.as_dict() for p in report.errors],
              "warnings": [p.as_dict() for p in report.warnings], "applied": False}

    def finish(applied: bool) -> dict[str, Any]:
        result["applied"] = applied
        modder_hooks.emit("on_worldline_merge", {
            "project": project, "source": source, "target": into["label"], "fast_forward": outcome["fast_forward"],
            "conflicts": len(outcome["conflicts"]), "dry_run": dry_run, "applied": applied})
        return result

    if dry_run or not into["writable"]:
        return finish(False)
    if outcome["unresolved"]:
        finish(False)
        raise Conflict(
            f"merge of '{source}' into '{into['label']}' has {len(outcome['unresolved'])} unresolved conflict(s) "
            f"({', '.join(outcome['unresolved'])}): send 'resolutions' mapping each to 'source' or 'target'",
            code="merge_conflict", details={"conflicts": outcome["conflicts"], "unresolved": outcome["unresolved"]},
        )
    if not report.valid:
        finish(False)
        first = report.errors[0]
        raise InvalidInput(
            f"the merged scene is not valid: {first.path}: {first.message}; resolve the merge differently "
            "or fix one side first", code="invalid_scene", details={"errors": result["errors"]},
        )
    if outcome["merged"] == into["scene"]:  # nothing to bring: write nothing
        return finish(False)
    _write(project, record, into, outcome, pulling)
    return finish(True)


def _write(project: str, record: dict[str, Any], into: dict[str, Any], outcome: dict[str, Any],
           pulling: bool) -> None:
    stamp = worldlines.now()
    merged = outcome["merged"]
    if into["worldline"] is not None:
        other = into["worldline"]
        other["scene"] = merged
        if pulling:  # the child now holds its parent's current version: that is the new common ancestor
            other["base"] = copy.deepcopy(record["scene"])
        other["updated_at"] = stamp
        worldlines.write(project, other)
    else:
        service.save_project_scene(project, merged, into["revision"])
    record.setdefault("merges", []).append({
        "target": into["label"], "at": stamp, "fast_forward": outcome["fast_forward"],
        "resolved": {c["key"]: c["resolution"] for c in outcome["conflicts"]},
    })
    if into["is_parent"]:  # the parent holds everything this worldline had: the new common ancestor
        record["base"] = copy.deepcopy(record["scene"])
    record["updated_at"] = stamp
    worldlines.write(project, record)


def merge(project: str, source: str, **options: Any) -> dict[str, Any]:
    """Merge worldline ``source`` (see ``_merge`` for the options) under the project's write lock,
    so two merges, or a merge and an edit, cannot overwrite each other."""
    from comfyvn.projects.store import project_lock

    with project_lock(project):
        return _merge(project, source, **options)
