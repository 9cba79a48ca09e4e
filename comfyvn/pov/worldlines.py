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

Records handed out carry one more field, ``revision``: the sha256 of the file's bytes (never
stored). Writers may pass it back as ``expected_revision`` and get 409 when the file changed in
between. Every read-modify-write of these files and of ``pov.json`` runs under the project's write
lock (:func:`comfyvn.projects.store.project_lock`, reentrant), see :func:`locked`.

A file whose shape is wrong (not JSON, a missing field, a scene that is not a scene) is *damaged*:
listings skip it and report it under ``damaged``, reading it is a 409 ``worldline_damaged``, and it
stays where it is until the user fixes or deletes it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import JsonDocument, atomic_write_json, dumps
from comfyvn.projects import store
from comfyvn.projects.paths import ID_RE, check_id, project_dir
from comfyvn.scenario.models import Scene, parse_scene
from comfyvn.scenario.service import load_valid

POV_FILE = "pov.json"
FOLDER = "worldlines"
SUMMARY_LEAVES_OUT = ("base", "scene")
F = TypeVar("F", bound=Callable[..., Any])


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def locked(function: F) -> F:
    """Run ``function(project, ...)`` under the project's write lock, so a read-modify-write of
    the project's worldline files or pov.json never interleaves with another one."""

    @functools.wraps(function)
    def wrapper(project: str, *args: Any, **kwargs: Any) -> Any:
        with store.project_lock(project):
            return function(project, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- files and their shape ------------------------------------------------------------------------

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


class _Merge(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    target: str
    at: str
    fast_forward: bool
    resolved: dict[str, str | None] = {}


class _Record(BaseModel):
    """The shape a stored worldline must have to be used (unknown extra fields are kept)."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: str
    name: str
    pov: str | None
    scene_id: str
    parent: str | None
    fork_node: str
    base: dict[str, Any]
    scene: dict[str, Any]
    merges: list[_Merge]
    created_at: str
    updated_at: str
    metadata: dict[str, Any]


def check_record(worldline_id: str, data: Any) -> dict[str, Any]:
    """``data`` when it is a usable worldline record with id ``worldline_id``; ``ValueError``
    saying what is wrong otherwise. ``scene`` and ``base`` must be scenes of ``scene_id``."""
    if not isinstance(data, dict):
        # one exception type for every shape problem: callers report them all the same way
        raise ValueError(f"the file holds a JSON {type(data).__name__}, not a worldline object")  # noqa: TRY004
    try:
        _Record.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"field '{where}': {'missing' if err['type'] == 'missing' else err['msg']}") from None
    if data["id"] != worldline_id:
        raise ValueError(f"the record's id is {data['id']!r}, but the file is named {worldline_id}.json")
    for field in ("scene", "base"):
        try:
            parsed = parse_scene(data[field])
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = "/".join(str(p) for p in err["loc"])
            raise ValueError(f"'{field}' is not a scene: {where}: {err['msg']}") from None
        if parsed.id != data["scene_id"]:
            raise ValueError(f"'{field}' is scene {parsed.id!r}, but the record says scene_id {data['scene_id']!r}")
    return data


def _parse(worldline_id: str, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    return check_record(worldline_id, data)


def _damaged(project: str, worldline_id: str, problem: str) -> Conflict:
    return Conflict(
        f"worldline {worldline_id!r} of project {project!r} is damaged ({FOLDER}/{worldline_id}.json: {problem}); "
        f"fix the file by hand, or delete the worldline with DELETE /api/pov/worlds/{worldline_id}?project={project}",
        code="worldline_damaged", details={"id": worldline_id, "project": project, "error": problem},
    )


def _not_found(project: str, worldline_id: str) -> NotFound:
    return NotFound(
        f"worldline '{worldline_id}' was not found in project '{project}': list them with GET /api/pov/worlds",
        details={"kind": "worldline", "id": worldline_id, "project": project},
    )


def _raw(project: str, worldline_id: str) -> bytes:
    try:
        return _path(project, worldline_id).read_bytes()
    except FileNotFoundError:
        raise _not_found(project, worldline_id) from None


def get(project: str, worldline_id: str) -> dict[str, Any]:
    """The whole worldline record plus its ``revision``; 404 when missing, 409 when damaged."""
    raw = _raw(project, worldline_id)
    try:
        record = _parse(worldline_id, raw)
    except ValueError as exc:
        raise _damaged(project, worldline_id, str(exc)) from None
    return record | {"revision": store.revision_of(raw)}


def check_revision(project: str, record: dict[str, Any], expected: str | None) -> None:
    """409 ``conflict`` when ``expected`` is given and is not the record's revision."""
    current = record["revision"]
    if expected is not None and expected != current:
        raise Conflict(
            f"worldline {record['id']!r} of project {project!r} was changed since revision {expected[:12]}: "
            f"reload it (current revision {current[:12]}) and apply your change again",
            details={"expected_revision": expected, "current_revision": current},
        )


def scene_of(record: dict[str, Any]) -> Scene:
    """A worldline's own scene as a model (it was validated when written)."""
    return load_valid(record["scene"])


def summary(record: dict[str, Any], active: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in SUMMARY_LEAVES_OUT}
    out["nodes"] = len(record["scene"].get("nodes", []))
    out["active"] = record["id"] == active
    return out


def scan(project: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(usable records oldest first, ties by id; damaged files ``{id, error}`` sorted by id).
    Nothing is moved or deleted."""
    folder = _folder(project)
    records, damaged = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        if not ID_RE.match(path.stem) or ".." in path.stem:
            damaged.append({"id": path.stem, "error": "the file name is not a worldline id; rename or remove it"})
            continue
        try:
            raw = path.read_bytes()
            records.append(_parse(path.stem, raw) | {"revision": store.revision_of(raw)})
        except FileNotFoundError:  # deleted while we looked
            continue
        except ValueError as exc:
            damaged.append({"id": path.stem, "error": str(exc)})
    records.sort(key=lambda r: (r["created_at"], r["id"]))
    return records, damaged


def list_all(project: str) -> list[dict[str, Any]]:
    """Every usable worldline record of the project, oldest first (ties by id)."""
    return scan(project)[0]


def write(project: str, record: dict[str, Any]) -> dict[str, Any]:
    """Store ``record`` (its ``revision`` is not stored) and return it with the new revision.
    Callers hold the project lock and give a record they validated."""
    stored = check_record(record["id"], {k: v for k, v in record.items() if k != "revision"})
    atomic_write_json(_path(project, stored["id"]), stored)
    return stored | {"revision": store.revision_of(dumps(stored).encode("utf-8"))}


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


# -- changes ----------------------------------------------------------------------------------------

@locked
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


@locked
def delete(project: str, worldline_id: str, *, expected_revision: str | None = None) -> dict[str, Any]:
    """Remove a worldline that has no children (409 otherwise); clears it as the active one.
    A damaged worldline can be deleted too (that is how a user gets rid of one)."""
    raw = _raw(project, worldline_id)
    try:
        record = _parse(worldline_id, raw)
    except ValueError:
        record = {"id": worldline_id}
    check_revision(project, {"id": worldline_id, "revision": store.revision_of(raw)}, expected_revision)
    children = [r["id"] for r in list_all(project) if r["parent"] == worldline_id]
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
