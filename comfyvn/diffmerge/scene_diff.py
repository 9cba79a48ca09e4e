"""Node-level scene diffs, optionally masked to what one POV sees.

Both sides are scenes in the canonical JSON form (``Scene.to_json()``), so equal content compares
equal however it was written. A diff tells how to go from ``source`` to ``target``: ``added`` nodes
exist only in the target, ``removed`` only in the source, ``changed`` in both with different
content (with the node fields that differ and, for choices, which choices by id). Node order is
not content: moving a node in the list is not a change.

``mask_pov`` compares only what that POV can see: nodes reachable from the start along ``next``
and the choices visible to the POV (``visible_to`` empty or naming it), with the other choices
left out of each node. Conditions and weights are not evaluated (they depend on the run), so a
node counts as seen if some run could show it. Scene-level fields are not compared under a mask.
"""

from __future__ import annotations

from collections import deque
from typing import Any

SceneJson = dict[str, Any]


def visible_choices(node: dict[str, Any], pov: str) -> list[dict[str, Any]]:
    return [c for c in node.get("choices", []) if not c.get("visible_to") or pov in c["visible_to"]]


def _is_end(node: dict[str, Any]) -> bool:
    return bool(node.get("end")) or node.get("type") == "end"


def pov_view(scene: SceneJson, pov: str) -> dict[str, dict[str, Any]]:
    """The nodes ``pov`` can see, by id, each with only the choices visible to that POV."""
    nodes = {n["id"]: n for n in scene.get("nodes", [])}
    view: dict[str, dict[str, Any]] = {}
    start = scene.get("start")
    queue = deque([start] if start in nodes else [])
    while queue:
        node_id = queue.popleft()
        if node_id in view:
            continue
        node = nodes[node_id]
        choices = visible_choices(node, pov)
        shown = dict(node)
        if choices:
            shown["choices"] = choices
        else:
            shown.pop("choices", None)
        view[node_id] = shown
        if _is_end(node):
            continue
        for target in [c["target"] for c in choices] + ([node["next"]] if node.get("next") else []):
            if target in nodes and target not in view:
                queue.append(target)
    return view


def _node_map(scene: SceneJson, pov: str | None) -> dict[str, dict[str, Any]]:
    if pov is None:
        return {n["id"]: n for n in scene.get("nodes", [])}
    return pov_view(scene, pov)


def _keyed_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[str]]:
    old = {item["id"]: item for item in before}
    new = {item["id"]: item for item in after}
    return {
        "added": [k for k in new if k not in old],
        "removed": [k for k in old if k not in new],
        "changed": [k for k in new if k in old and new[k] != old[k]],
    }


def node_change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Which fields of a node differ, with both values (and the choice ids involved)."""
    fields = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    change: dict[str, Any] = {
        "id": after.get("id", before.get("id")),
        "fields": fields,
        "before": {k: before.get(k) for k in fields},
        "after": {k: after.get(k) for k in fields},
    }
    if "choices" in fields:
        change["choices"] = _keyed_diff(before.get("choices", []), after.get("choices", []))
    return change


def diff_scenes(source: SceneJson, target: SceneJson, *, mask_pov: str | None = None) -> dict[str, Any]:
    """The node-level difference from ``source`` to ``target`` (see the module docstring)."""
    old = _node_map(source, mask_pov)
    new = _node_map(target, mask_pov)
    order = [n["id"] for n in target.get("nodes", [])]
    added = [k for k in order if k in new and k not in old]
    removed = [n["id"] for n in source.get("nodes", []) if n["id"] in old and n["id"] not in new]
    changed = [node_change(old[k], new[k]) for k in order if k in old and k in new and old[k] != new[k]]
    unchanged = sum(1 for k in new if k in old and old[k] == new[k])
    scene_fields: dict[str, Any] = {}
    if mask_pov is None:
        for key in sorted((set(source) | set(target)) - {"nodes"}):
            if source.get(key) != target.get(key):
                scene_fields[key] = {"before": source.get(key), "after": target.get(key)}
    counts = {"added": len(added), "removed": len(removed), "changed": len(changed), "unchanged": unchanged}
    return {
        "mask_pov": mask_pov,
        "identical": not (added or removed or changed or scene_fields),
        "added": added,
        "removed": removed,
        "changed": changed,
        "scene_fields": scene_fields,
        "counts": counts,
        "hidden": {
            "source": len(source.get("nodes", [])) - len(old),
            "target": len(target.get("nodes", [])) - len(new),
        },
    }


def change_counts(source: SceneJson, target: SceneJson) -> dict[str, int]:
    """Just the numbers: nodes added, removed and changed, and scene fields changed."""
    result = diff_scenes(source, target)
    return {**{k: result["counts"][k] for k in ("added", "removed", "changed")},
            "scene_fields": len(result["scene_fields"])}
