"""Diff/merge operations the routes use: name a scene version, diff two of them (telling the hook
bus), draw the worldline graph, and read/write the project's stored scenes.

A scene version is named by a reference, exactly one of:

- ``{"scene": {...}}``: an inline scene (label ``inline:<scene id>``);
- ``{"scene_id": "intro"}``: the project's stored scene (label ``scene:intro``);
- ``{"worldline": "w1"}``: a worldline's scene (label ``w1``), or with ``"version": "base"`` its
  base, the common ancestor with its parent (label ``w1@base``).
"""

from __future__ import annotations

from typing import Any

from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.diffmerge.scene_diff import change_counts, diff_scenes
from comfyvn.pov import manager, worldlines
from comfyvn.projects import store
from comfyvn.scenario.service import load_valid

VERSIONS = ("scene", "base")


# -- the project's stored scenes ----------------------------------------------------------------

def project_scene(project: str, scene_id: str) -> tuple[dict[str, Any], str]:
    """(canonical scene JSON, revision) of a stored scene; 404 when there is none."""
    stored = store.collection("scene").get(project, scene_id)
    return load_valid(stored["data"]).to_json(), stored["revision"]


def save_project_scene(project: str, scene: dict[str, Any], revision: str) -> None:
    """Replace a stored scene; 409 when someone saved it after ``revision`` was read."""
    store.collection("scene").replace(project, scene["id"], scene, expected_revision=revision)


# -- references and diffs -----------------------------------------------------------------------

def resolve_ref(project: str, ref: dict[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """(label, canonical scene JSON) of a scene reference (see the module docstring)."""
    if not isinstance(ref, dict):
        raise InvalidInput(f"'{what}' must be an object: {{scene}}, {{scene_id}} or {{worldline, version?}}")
    given = [k for k in ("scene", "scene_id", "worldline") if ref.get(k) is not None]
    unknown = sorted(set(ref) - {"scene", "scene_id", "worldline", "version"})
    if len(given) != 1 or unknown:
        raise InvalidInput(
            f"'{what}' must name exactly one of 'scene', 'scene_id' or 'worldline' (plus 'version' for a "
            f"worldline); got {sorted(ref)}", details={"ref": what, "keys": sorted(ref)},
        )
    version = ref.get("version", "scene")
    if version not in VERSIONS or (version == "base" and given != ["worldline"]):
        raise InvalidInput(f"'{what}.version' must be 'scene' or 'base' (base only for a worldline)")
    if given == ["scene"]:
        scene = load_valid(ref["scene"]).to_json()
        return f"inline:{scene['id']}", scene
    if given == ["scene_id"]:
        return f"scene:{ref['scene_id']}", project_scene(project, ref["scene_id"])[0]
    record = worldlines.get(project, ref["worldline"])
    label = record["id"] + ("@base" if version == "base" else "")
    return label, record[version]


def diff(project: str, source: dict[str, Any], target: dict[str, Any], *, mask_pov: str | None = None
         ) -> dict[str, Any]:
    """The node-level diff from ``source`` to ``target``; emits ``on_worldline_diff``."""
    source_label, source_scene = resolve_ref(project, source, "source")
    target_label, target_scene = resolve_ref(project, target, "target")
    result = diff_scenes(source_scene, target_scene, mask_pov=mask_pov)
    counts = result["counts"]
    modder_hooks.emit("on_worldline_diff", {
        "project": project, "source": source_label, "target": target_label,
        "added": counts["added"], "removed": counts["removed"], "changed": counts["changed"]})
    return {"project": project, "source": source_label, "target": target_label, **result}


# -- the worldline graph ------------------------------------------------------------------------

def _total(counts: dict[str, int] | None) -> int | None:
    return None if counts is None else sum(counts.values())


def graph(project: str) -> dict[str, Any]:
    """Worldlines and the scenes they fork from, for the Studio.

    Nodes: ``scene:<id>`` for each scene a root worldline forks from (``stored`` says whether the
    project holds it) and one node per worldline with ``ahead`` (its changes since its base),
    ``behind`` (the parent's changes since that base; null when the parent scene is not stored),
    ``vs_parent`` (its difference from the parent's current scene) and whether a merge into the
    parent would be a ``fast_forward``. Edges: ``fork`` (parent -> child, with the fork node) and
    ``merge`` (source -> target, one per merge done). Damaged worldline files are left out and
    listed in ``damaged`` (``{id, error}``).
    """
    records, damaged = worldlines.scan(project)
    by_id = {r["id"]: r for r in records}
    active = manager.get_state(project)["worldline"]
    scenes: dict[str, dict[str, Any] | None] = {}
    for record in records:
        if record["parent"] is None and record["scene_id"] not in scenes:
            try:
                scenes[record["scene_id"]] = project_scene(project, record["scene_id"])[0]
            except NotFound:  # forked from an inline scene the project does not store: shown as such
                scenes[record["scene_id"]] = None
    nodes: list[dict[str, Any]] = [
        {"id": f"scene:{sid}", "kind": "scene", "scene_id": sid, "stored": scene is not None}
        for sid, scene in sorted(scenes.items())
    ]
    edges: list[dict[str, Any]] = []
    for record in records:
        parent = by_id.get(record["parent"]) if record["parent"] else None
        if record["parent"] is None:
            parent_scene = scenes.get(record["scene_id"])
        else:  # None when the parent worldline is damaged or gone: its changes are unknown
            parent_scene = parent["scene"] if parent else None
        parent_key = record["parent"] or f"scene:{record['scene_id']}"
        ahead = change_counts(record["base"], record["scene"])
        behind = change_counts(record["base"], parent_scene) if parent_scene is not None else None
        nodes.append({
            **{k: record.get(k) for k in ("id", "name", "pov", "scene_id", "parent", "fork_node",
                                          "created_at", "updated_at")},
            "kind": "worldline", "active": record["id"] == active,
            "ahead": ahead, "behind": behind,
            "vs_parent": change_counts(parent_scene, record["scene"]) if parent_scene is not None else None,
            "up_to_date": _total(ahead) == 0,
            "fast_forward": None if behind is None else (_total(behind) == 0 and _total(ahead) != 0),
        })
        edges.append({"from": parent_key, "to": record["id"], "kind": "fork", "node": record["fork_node"]})
        for done in record.get("merges", []):
            edges.append({"from": record["id"], "to": done["target"], "kind": "merge", "at": done["at"],
                          "fast_forward": done["fast_forward"]})
    return {"project": project, "active": active, "nodes": nodes, "edges": edges, "damaged": damaged}
