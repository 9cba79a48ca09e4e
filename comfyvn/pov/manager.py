"""The POV manager: whose point of view the project is told from, who could tell it, and forking
worldlines at a node.

Candidates come from the scene itself: cast members (role ``character`` or ``user``), every
distinct speaker, every node ``pov``, every choice ``visible_to`` entry and the scene's default
``pov``. A name that matches a cast member's id or display name counts for that member.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.pov import worldlines
from comfyvn.pov.worldlines import locked
from comfyvn.scenario.models import Scene
from comfyvn.scenario.service import resolve_scene

POV_ROLES = ("character", "user")
POV_NAME_MAX = 128
POV_NAME_RULE = f"a POV name is 1-{POV_NAME_MAX} characters, without control characters, '/' or '\\'"


# -- candidates -----------------------------------------------------------------------------------

def candidates(scene: Scene) -> list[dict[str, Any]]:
    """Every possible POV of ``scene``: cast members in cast order, then other names sorted.

    Each entry: ``{id, name, role, sources, lines, nodes, choices}`` where ``lines`` counts lines
    spoken, ``nodes`` nodes told from that POV and ``choices`` choices only that POV (among
    others) can see.
    """
    alias: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    narrators = set()
    for member in scene.cast:
        if member.role not in POV_ROLES:
            narrators.update({member.id, member.name})
            continue
        entries[member.id] = _entry(member.id, member.name, member.role, "cast")
        alias.setdefault(member.id, member.id)
        alias.setdefault(member.name, member.id)

    def count(name: str | None, source: str, field: str | None = None) -> None:
        if not name or name in narrators:
            return
        key = alias.get(name, name)
        entry = entries.setdefault(key, _entry(key, key, None, source))
        if source not in entry["sources"]:
            entry["sources"].append(source)
        if field:
            entry[field] += 1

    count(scene.pov, "scene_pov")
    for node in scene.nodes:
        count(node.pov, "node_pov", "nodes")
        for line in node.lines():
            if line.kind == "say":
                count(line.speaker, "speaker", "lines")
        for choice in node.choices:
            for name in dict.fromkeys(choice.visible_to):
                count(name, "visible_to", "choices")
    cast_ids = [m.id for m in scene.cast if m.id in entries]
    others = sorted(k for k in entries if k not in set(cast_ids))
    return [entries[k] | {"sources": sorted(entries[k]["sources"])} for k in cast_ids + others]


def _entry(key: str, name: str, role: str | None, source: str) -> dict[str, Any]:
    return {"id": key, "name": name, "role": role, "sources": [source], "lines": 0, "nodes": 0, "choices": 0}


def match_candidate(scene: Scene, pov: str) -> str:
    """The candidate id ``pov`` names (by id or display name), or 422 listing the candidates."""
    found = candidates(scene)
    for entry in found:
        if pov == entry["id"]:
            return entry["id"]
    for entry in found:
        if pov == entry["name"]:
            return entry["id"]
    ids = [e["id"] for e in found]
    raise InvalidInput(
        f"{pov!r} is not a POV of scene {scene.id!r}: pick one of {ids} (see POST /api/pov/candidates)",
        code="unknown_pov", details={"pov": pov, "candidates": ids},
    )


# -- where a scene comes from ------------------------------------------------------------------

def source_scene(project: str, *, scene: dict[str, Any] | None = None, scene_id: str | None = None,
                 worldline: str | None = None) -> tuple[Scene, dict[str, Any] | None]:
    """The scene a request means (inline, stored, or a worldline's), and the worldline record if any."""
    given = sum(x is not None for x in (scene, scene_id, worldline))
    if given != 1:
        raise InvalidInput("give exactly one of 'scene' (the scene itself), 'scene_id' (a stored scene) "
                           "or 'worldline' (a worldline id)")
    if worldline is not None:
        record = worldlines.get(project, worldline)
        return worldlines.scene_of(record), record
    return resolve_scene(scene, scene_id, project), None


# -- active POV and worldline -------------------------------------------------------------------

def check_pov_name(pov: Any) -> str:
    """``pov`` when it is a usable POV name (see ``POV_NAME_RULE``), else 422 ``invalid_pov``."""
    if not isinstance(pov, str) or not pov:
        reason = "it is empty"
    elif len(pov) > POV_NAME_MAX:
        reason = f"it is {len(pov)} characters long"
    elif any(unicodedata.category(ch) == "Cc" for ch in pov):
        reason = "it contains control characters"
    elif "/" in pov or "\\" in pov:
        reason = "it contains '/' or '\\'"
    else:
        return pov
    shown = pov if not isinstance(pov, str) or len(pov) <= 40 else pov[:40] + "..."
    raise InvalidInput(f"invalid POV name {shown!r}: {reason}; {POV_NAME_RULE}", code="invalid_pov",
                       details={"pov": shown, "reason": reason})


def get_state(project: str) -> dict[str, Any]:
    data = worldlines.pov_document(project).read()
    return {"project": project, "pov": data.get("pov"), "worldline": data.get("worldline"),
            "updated_at": data.get("updated_at")}


@locked
def set_pov(project: str, pov: str | None, *, scene: dict[str, Any] | None = None, scene_id: str | None = None,
            worldline: str | None = None) -> dict[str, Any]:
    """Make ``pov`` the active POV (``None`` clears it). It must be a usable name (``POV_NAME_RULE``)
    and, when a scene is named (inline, stored or a worldline's), one of that scene's candidates."""
    if pov is not None:
        check_pov_name(pov)
    if any(x is not None for x in (scene, scene_id, worldline)):
        source = source_scene(project, scene=scene, scene_id=scene_id, worldline=worldline)[0]
        if pov is not None:
            pov = match_candidate(source, pov)
    worldlines.pov_document(project).update({"pov": pov, "updated_at": worldlines.now()})
    return get_state(project)


@locked
def activate(project: str, worldline_id: str) -> dict[str, Any]:
    """Make a worldline the active one; its POV (when it has one) becomes the active POV."""
    record = worldlines.get(project, worldline_id)
    patch: dict[str, Any] = {"worldline": worldline_id, "updated_at": worldlines.now()}
    if record.get("pov"):
        patch["pov"] = record["pov"]
    worldlines.pov_document(project).update(patch)
    return get_state(project)


# -- worldlines ---------------------------------------------------------------------------------

@locked
def fork(project: str, *, node: str | None, scene: dict[str, Any] | None = None, scene_id: str | None = None,
         worldline: str | None = None, pov: str | None = None, name: str | None = None,
         worldline_id: str | None = None, metadata: dict[str, Any] | None = None,
         activate_it: bool = False) -> dict[str, Any]:
    """A new worldline forked from a scene or another worldline at ``node`` (default: the start).

    ``pov`` defaults to the parent worldline's, else the scene's default POV.
    """
    source, parent = source_scene(project, scene=scene, scene_id=scene_id, worldline=worldline)
    fork_node = source.start if node is None else node
    if fork_node not in source.node_map():
        raise NotFound(
            f"node {fork_node!r} is not in scene {source.id!r}: fork at one of its node ids",
            code="unknown_node", details={"kind": "node", "id": fork_node, "scene_id": source.id},
        )
    if pov is not None:
        pov = match_candidate(source, pov)
    else:
        pov = parent.get("pov") if parent else source.pov
    record = worldlines.create(project, scene=source, parent=parent["id"] if parent else None, fork_node=fork_node,
                               pov=pov, name=name, worldline_id=worldline_id, metadata=metadata)
    if activate_it:
        activate(project, record["id"])
    return record


@locked
def update(project: str, worldline_id: str, *, name: str | None = None, pov: str | None = None,
           clear_pov: bool = False, metadata: dict[str, Any] | None = None, scene: dict[str, Any] | None = None,
           nodes: list[dict[str, Any]] | None = None, remove_nodes: list[str] | None = None,
           expected_revision: str | None = None) -> dict[str, Any]:
    """Rename, change the POV or metadata, or edit the scene of a worldline. Scene edits are
    validated (schema and semantics) before anything is written. The whole read-edit-write runs
    under the project lock, so parallel edits all land; ``expected_revision`` (409 on mismatch)
    guards against editing a version the caller has not seen."""
    record = worldlines.get(project, worldline_id)
    worldlines.check_revision(project, record, expected_revision)
    changes: dict[str, Any] = {}
    edited = None
    if scene is not None or nodes or remove_nodes:
        edited = worldlines.apply_scene_edits(record, scene=scene, nodes=nodes, remove_nodes=remove_nodes)
        changes["scene"] = edited.to_json()
    if name is not None:
        if not name.strip():
            raise InvalidInput("a worldline name cannot be empty")
        changes["name"] = name
    if clear_pov:
        changes["pov"] = None
    elif pov is not None:
        changes["pov"] = match_candidate(edited or worldlines.scene_of(record), pov)
    if metadata is not None:
        changes["metadata"] = metadata
    if not changes:
        raise InvalidInput("nothing to update: give name, pov, metadata, scene, nodes or remove_nodes")
    return worldlines.write(project, record | changes | {"updated_at": worldlines.now()})


def listing(project: str) -> dict[str, Any]:
    """Summaries of the usable worldlines, the active one, and ``damaged`` files ``{id, error}``."""
    active = get_state(project)["worldline"]
    records, damaged = worldlines.scan(project)
    return {"project": project, "active": active,
            "worldlines": [worldlines.summary(r, active) for r in records], "damaged": damaged}
