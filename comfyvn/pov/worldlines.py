"""Worldlines: alternate versions of a scene, forked at a node and edited on their own.

One project's files (see ``comfyvn.projects.paths``)::

    <project>/pov.json                 {"pov": active POV or null, "worldline": active worldline or null}
    <project>/worldlines/<id>.json     one worldline (below)

A worldline record::

    {id, name, pov, scene_id, parent, fork_node, base, scene, merges, created_at, updated_at, metadata}

``parent`` is the worldline it was forked from, or null when it was forked from a scene (its
parent is then the project's scene ``scene_id``). ``base`` is the common ancestor with the parent:
the parent's scene at the fork, moved forward by merges between the two; three-way merges use it.
``scene`` is this worldline's own version, in the canonical JSON form (``Scene.to_json()``).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import JsonDocument, atomic_write_json, read_json
from comfyvn.projects import store
from comfyvn.projects.paths import check_id, project_dir
from comfyvn.scenario.models import Scene
from comfyvn.scenario.service import load_valid

POV_FILE = "pov.json"
FOLDER = "worldlines"
SUMMARY_LEAVES_OUT = ("base", "scene")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _root(project: str) -> Path:
    """The project's folder; 404 for an unknown project (the default one is created on first use)."""
    return project_dir(store.require_project(project))


def pov_document(project: str) -> JsonDocument:
    return JsonDocument(_root(project) / POV_FILE)


def _folder(project: str) -> Path:
    return _root(project) / FOLDER


def _path(project: str, worldline_id: str) -> Path:
    return _folder(project) / f"{check_id(worldline_id, 'worldline')}.json"


def exists(project: str, worldline_id: str) -> bool:
    return _path(project, worldline_id).is_file()


def get(project: str, worldline_id: str) -> dict[str, Any]:
    """The whole worldline record, or 404."""
    data = read_json(_path(project, worldline_id))
    if not isinstance(data, dict):
        raise NotFound(
            f"worldline '{worldline_id}' was not found in project '{project}': list them with GET /api/pov/worlds",
            details={"kind": "worldline", "id": worldline_id, "project": project},
        )
    return data


def scene_of(record: dict[str, Any]) -> Scene:
    """A worldline's own scene as a model (it was validated when written)."""
    return load_valid(record["scene"])


def summary(record: dict[str, Any], active: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in SUMMARY_LEAVES_OUT}
    out["nodes"] = len(record["scene"].get("nodes", []))
    out["active"] = record["id"] == active
    return out


def list_all(project: str) -> list[dict[str, Any]]:
    """Every worldline record of the project, oldest first (ties by id)."""
    folder = _folder(project)
    records = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            data = read_json(path)
            if isinstance(data, dict) and data.get("id") == path.stem:
                records.append(data)
    return sorted(records, key=lambda r: (r.get("created_at", ""), r["id"]))


def write(project: str, record: dict[str, Any]) -> dict[str, Any]:
    atomic_write_json(_path(project, record["id"]), record)
    return record


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")[:100]
    return slug or "worldline"


def new_id(project: str, wanted: str | None, name: str | None, fallback: str) -> str:
    """``wanted`` (409 when taken), else a free id made from the name or ``fallback``."""
    if wanted is not None:
        check_id(wanted, "worldline")
        if exists(project, wanted):
            raise Conflict(f"worldline '{wanted}' already exists: pick another id or leave it out",
                           details={"id": wanted})
        return wanted
    stem = _slug(name or fallback)
    candidate, counter = stem, 1
    while exists(project, candidate):
        counter += 1
        candidate = f"{stem}-{counter}"
    return candidate


def _locked(function):
    """Run a read-modify-write of the project's worldline files under the project's write lock."""
    import functools

    @functools.wraps(function)
    def wrapper(project: str, *args: Any, **kwargs: Any) -> Any:
        from comfyvn.projects.store import project_lock

        with project_lock(project):
            return function(project, *args, **kwargs)

    return wrapper


@_locked
def create(project: str, *, scene: Scene, parent: str | None, fork_node: str, pov: str | None,
           name: str | None = None, worldline_id: str | None = None,
           metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store a new worldline whose base and scene are both ``scene`` as it is now."""
    snapshot = scene.to_json()
    wid = new_id(project, worldline_id, name, f"{scene.id}-{pov or 'fork'}-{fork_node}")
    stamp = now()
    record = {
        "id": wid, "name": name or wid, "pov": pov, "scene_id": scene.id, "parent": parent,
        "fork_node": fork_node, "base": snapshot, "scene": copy.deepcopy(snapshot), "merges": [],
        "created_at": stamp, "updated_at": stamp, "metadata": dict(metadata or {}),
    }
    return write(project, record)


def apply_scene_edits(record: dict[str, Any], *, scene: dict[str, Any] | None = None,
                      nodes: list[dict[str, Any]] | None = None,
                      remove_nodes: list[str] | None = None) -> Scene:
    """The worldline's scene after the edits (whole-scene replacement, node upserts by id, node
    removals), validated (422 ``invalid_scene`` listing every error). The record is not changed."""
    data = copy.deepcopy(scene if scene is not None else record["scene"])
    if not isinstance(data, dict):
        raise InvalidInput("'scene' must be a JSON object (the whole scene)")
    current = data.get("nodes")
    if (nodes or remove_nodes) and not isinstance(current, list):
        raise InvalidInput("the scene has no 'nodes' list to edit")
    if remove_nodes:
        known = {n.get("id") for n in current if isinstance(n, dict)}
        unknown = sorted(set(remove_nodes) - known)
        if unknown:
            raise InvalidInput(f"cannot remove unknown node(s) {', '.join(map(repr, unknown))}",
                               code="unknown_node", details={"nodes": unknown})
        doomed = set(remove_nodes)
        current[:] = [n for n in current if not (isinstance(n, dict) and n.get("id") in doomed)]
    for node in nodes or []:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise InvalidInput("every entry of 'nodes' must be a node object with an 'id'")
        for i, existing in enumerate(current):
            if isinstance(existing, dict) and existing.get("id") == node["id"]:
                current[i] = node
                break
        else:
            current.append(node)
    parsed = load_valid(data)
    if parsed.id != record["scene_id"]:
        raise InvalidInput(
            f"a worldline keeps its scene id: expected {record['scene_id']!r}, got {parsed.id!r}",
            code="scene_id_changed", details={"expected": record["scene_id"], "got": parsed.id},
        )
    return parsed


@_locked
def update(project: str, worldline_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``changes`` (keys: name, pov, metadata, scene) to a stored worldline."""
    record = get(project, worldline_id)
    record.update(changes)
    record["updated_at"] = now()
    return write(project, record)


@_locked
def delete(project: str, worldline_id: str) -> dict[str, Any]:
    """Remove a worldline that has no children (409 otherwise); clears it as the active one."""
    record = get(project, worldline_id)
    children = [r["id"] for r in list_all(project) if r.get("parent") == worldline_id]
    if children:
        raise Conflict(
            f"worldline '{worldline_id}' has child worldlines {children}: delete or merge them first",
            details={"children": children},
        )
    _path(project, worldline_id).unlink()
    doc = pov_document(project)
    if doc.read().get("worldline") == worldline_id:
        doc.update({"worldline": None, "updated_at": now()})
    return {"deleted": worldline_id, "project": project, "name": record.get("name")}
