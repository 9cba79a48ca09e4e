"""The project store: project folders of JSON files (layout in :mod:`comfyvn.projects.paths`).

One generic :class:`Collection` serves scenes, characters, timelines and worlds; the project
records themselves have their own small set of functions below. Every file is written with
``atomic_write_json`` under a per-project lock, so a crash or a refused save never leaves a torn or
half-changed file. Each stored record has a ``revision``: the sha256 of its bytes on disk. Writers
may pass ``expected_revision`` and get 409 when someone saved in between (lost-update protection).
Every change is announced on the hook bus as ``on_project_changed``.

The ``default`` project is created the first time anything uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import (
    LOCK_TIMEOUT_SECONDS,
    atomic_write_bytes,
    atomic_write_json,
    deep_merge,
    dump_bytes,
    read_json,
)
from comfyvn.projects.kinds import KINDS, Kind, kind, model_parser
from comfyvn.projects.models import Project
from comfyvn.projects.paths import DEFAULT_PROJECT, ID_RE, check_id, project_dir
from comfyvn.scenario.models import Scene

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROJECT", "Collection", "collection", "get_scene", "get_model", "list_projects",
           "get_project", "create_project", "update_project", "delete_project", "require_project"]

PROJECT_FILE = "project.json"
SERVER_FIELDS = ("created_at", "updated_at")
_parse_project = model_parser(Project, "project")


# -- files, revisions, locks, events -------------------------------------------------------------

def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def revision_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _mtime(path: Path) -> str:
    stamp = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


MODEL_CACHE_SIZE = 8
_models: OrderedDict[tuple[str, str], Any] = OrderedDict()  # (path, revision) -> parsed model
_models_lock = threading.Lock()


def _read(path: Path) -> tuple[Any, bytes] | None:
    """(data, bytes) of a stored file; None when it is missing or does not parse (``read_json``
    then moves it aside as ``<name>.corrupt-<time>`` and logs it)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return orjson.loads(raw), raw  # a 10,000-node scene parses in a third of json's time
    except ValueError:  # orjson is stricter (lone surrogates, NaN): what json reads is still read
        pass
    try:
        return json.loads(raw), raw
    except ValueError:
        read_json(path)
        return None


def _write(path: Path, obj: Any) -> str:
    return revision_of(atomic_write_json(path, obj))


def project_lock(project: str) -> FileLock:
    """The per-project write lock (reentrant in one thread, exclusive across threads and processes).
    It lives outside the project folder so deleting the folder cannot pull it from under a writer."""
    path = runtime_paths.workspaces_dir() / ".locks" / f"{project}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS, is_singleton=True)


def _check_revision(what: str, raw: bytes, expected: str | None) -> None:
    current = revision_of(raw)
    if expected is not None and expected != current:
        raise Conflict(
            f"{what} was changed since revision {expected[:12]}: reload it (current revision "
            f"{current[:12]}) and apply your change again",
            details={"expected_revision": expected, "current_revision": current})


def _emit(project: str, kind_name: str, item_id: str, action: str) -> None:
    modder_hooks.emit("on_project_changed", {"project": project, "kind": kind_name, "id": item_id, "action": action})


def _answer(project: str, kind_name: str, item_id: str, data: Any, revision: str, path: Path) -> dict[str, Any]:
    return {"project": project, "kind": kind_name, "id": item_id, "revision": revision, "updated_at": _mtime(path),
            "data": data}


def _body_id(what: str, data: dict[str, Any], url_id: str) -> None:
    if "id" in data and data["id"] != url_id:
        raise InvalidInput(
            f"the body names {what} {data['id']!r} but the address names {url_id!r}: ids cannot change on "
            "save; create a record with the new id and delete the old one",
            details={"body_id": data["id"], "id": url_id})


def _require_object(what: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput(f"a {what} must be a JSON object, not {type(data).__name__}")
    return data


# -- the generic collection -------------------------------------------------------------------

class Collection:
    """The records of one kind in every project: ``<project>/<kind.folder>/<id>.json``."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def path(self, project: str, item_id: str) -> Path:
        return project_dir(project) / self.kind.folder / f"{check_id(item_id, self.kind.name)}.json"

    def _what(self, project: str, item_id: str) -> str:
        return f"{self.kind.name} {item_id!r} of project {project!r}"

    def _not_found(self, project: str, item_id: str) -> NotFound:
        return NotFound(f"{self._what(project, item_id)} was not found; list the project's {self.kind.folder} "
                        "to see what exists", details={"kind": self.kind.name, "id": item_id, "project": project})

    def list(self, project: str = DEFAULT_PROJECT) -> list[dict[str, Any]]:
        """Summaries ``{id, <title|name>, revision, updated_at}`` sorted by id. Unreadable files are
        moved aside and skipped; they never break the listing."""
        folder = project_dir(require_project(project)) / self.kind.folder
        items = []
        for path in sorted(folder.glob("*.json")):
            if not ID_RE.match(path.stem) or not path.is_file():  # e.g. a character's '<id>.json/' folder
                continue
            got = _read(path)
            if got is None:
                continue
            data, raw = got
            if not isinstance(data, dict):
                log.error("Stored record is not a JSON object; skipping it", extra={"path": str(path)})
                continue
            label = data.get(self.kind.label)
            items.append({"id": path.stem, self.kind.label: label if isinstance(label, str) else "",
                          "revision": revision_of(raw), "updated_at": _mtime(path)})
        return items

    def ids(self, project: str = DEFAULT_PROJECT) -> list[str]:
        return [item["id"] for item in self.list(project)]

    def file_ids(self, project: str = DEFAULT_PROJECT) -> list[str]:
        """The ids of the stored files, sorted, without reading them (``ids`` reads and checks each)."""
        folder = project_dir(require_project(project)) / self.kind.folder
        return [p.stem for p in sorted(folder.glob("*.json")) if ID_RE.match(p.stem) and p.is_file()]

    def get(self, project: str, item_id: str) -> dict[str, Any]:
        """``{project, kind, id, revision, updated_at, data}``; ``data`` is the stored JSON."""
        path = self.path(require_project(project), item_id)
        got = _read(path)
        if got is None:
            raise self._not_found(project, item_id)
        data, raw = got
        return _answer(project, self.kind.name, item_id, data, revision_of(raw), path)

    def model(self, project: str, item_id: str) -> Any:
        """The stored record as its model (shared: treat it as read-only); 422 when the file on disk is
        no longer valid. Parsed models are kept for the last few revisions read, so stepping a large
        stored scene does not re-validate it on every request."""
        path = self.path(require_project(project), item_id)
        got = _read(path)  # one read: the revision and the data come from the same bytes
        if got is None:
            raise self._not_found(project, item_id)
        key = (str(path), revision_of(got[1]))
        with _models_lock:
            if key in _models:
                _models.move_to_end(key)
                return _models[key]
        try:
            model = self.kind.parse(got[0])[0]
        except InvalidInput as exc:
            raise InvalidInput(f"stored {self._what(project, item_id)}: {exc.message}; fix it by saving a valid "
                               "version", code=exc.code, details=exc.details) from None
        with _models_lock:
            _models[key] = model
            while len(_models) > MODEL_CACHE_SIZE:
                _models.popitem(last=False)
        return model

    def _validated(self, project: str, data: dict[str, Any]) -> tuple[Any, list[dict[str, str]]]:
        model, warnings = self.kind.parse(data)
        if self.kind.check_refs is not None:
            self.kind.check_refs(project, model)
        return self.kind.dump(model), warnings

    def create(self, project: str, data: Any) -> dict[str, Any]:
        """Store a new record; 409 when the id is taken. The answer adds ``warnings``."""
        data = _require_object(self.kind.name, data)
        if "id" not in data:
            raise InvalidInput(f"a new {self.kind.name} needs an 'id' (letters, digits, '_', '.', '-')")
        item_id = check_id(data["id"], self.kind.name)
        path = self.path(require_project(project), item_id)
        with project_lock(project):
            if path.exists():
                raise Conflict(f"{self._what(project, item_id)} already exists: replace or patch it instead, "
                               "or pick another id", details={"kind": self.kind.name, "id": item_id})
            obj, warnings = self._validated(project, data)
            revision = _write(path, obj)
        _emit(project, self.kind.name, item_id, "created")
        return _answer(project, self.kind.name, item_id, obj, revision, path) | {"warnings": warnings}

    def replace(self, project: str, item_id: str, data: Any, *, expected_revision: str | None = None
                ) -> dict[str, Any]:
        """Replace a record with ``data`` (its ``id`` may be left out)."""
        data = _require_object(self.kind.name, data)
        _body_id(self.kind.name, data, item_id)
        return self._save(project, item_id, lambda _current: {**data, "id": item_id}, expected_revision)

    def patch(self, project: str, item_id: str, patch: Any, *, expected_revision: str | None = None
              ) -> dict[str, Any]:
        """Deep-merge ``patch`` into the stored record (objects merge; lists and values replace)."""
        patch = _require_object(f"{self.kind.name} patch", patch)
        _body_id(self.kind.name, patch, item_id)
        return self._save(project, item_id, lambda current: deep_merge(current, patch), expected_revision)

    def _save(self, project: str, item_id: str, make: Callable[[dict[str, Any]], dict[str, Any]],
              expected_revision: str | None) -> dict[str, Any]:
        path = self.path(require_project(project), item_id)
        with project_lock(project):
            got = _read(path)
            if got is None:
                raise self._not_found(project, item_id)
            current, raw = got
            _check_revision(self._what(project, item_id), raw, expected_revision)
            obj, warnings = self._validated(project, make(current if isinstance(current, dict) else {}))
            new = dump_bytes(obj)
            changed = new != raw
            if changed:
                atomic_write_bytes(path, new)
            revision = revision_of(new)
        if changed:
            _emit(project, self.kind.name, item_id, "updated")
        return _answer(project, self.kind.name, item_id, obj, revision, path) | {"warnings": warnings}

    def delete(self, project: str, item_id: str, *, expected_revision: str | None = None,
               force: bool = False) -> dict[str, Any]:
        path = self.path(require_project(project), item_id)
        with project_lock(project):
            got = _read(path)
            if got is None:
                raise self._not_found(project, item_id)
            _check_revision(self._what(project, item_id), got[1], expected_revision)
            if self.kind.before_delete is not None:
                self.kind.before_delete(project, item_id, force)
            path.unlink()
        _emit(project, self.kind.name, item_id, "deleted")
        return {"project": project, "kind": self.kind.name, "id": item_id, "deleted": True}


COLLECTIONS: dict[str, Collection] = {name: Collection(k) for name, k in KINDS.items()}


def collection(kind_name: str) -> Collection:
    return COLLECTIONS[kind(kind_name).name]


def get_model(kind_name: str, project_id: str, item_id: str) -> Any:
    return collection(kind_name).model(project_id, item_id)


def get_scene(project_id: str, scene_id: str) -> Scene:
    """The stored scene ``scene_id`` of ``project_id``: 404 when there is none, 422 when invalid."""
    return collection("scene").model(project_id, scene_id)


# -- projects ---------------------------------------------------------------------------------

def _project_file(project: str) -> Path:
    return project_dir(project) / PROJECT_FILE


def require_project(project: str) -> str:
    """``project`` when it exists (the default project is created on first use); 404 otherwise."""
    check_id(project, "project")
    if not _project_file(project).is_file():
        if project != DEFAULT_PROJECT:
            raise NotFound(f"project {project!r} was not found; create it first or pick one of the listed projects",
                           details={"kind": "project", "id": project})
        create_project({"id": DEFAULT_PROJECT, "name": "Default project"}, exist_ok=True)
    return project


def _project_answer(project: str, data: Any, revision: str) -> dict[str, Any]:
    root = project_dir(project)
    counts = {k.folder: sum(1 for p in (root / k.folder).glob("*.json") if ID_RE.match(p.stem))
              for k in KINDS.values()}
    updated = data.get("updated_at", "") if isinstance(data, dict) else ""
    return {"project": project, "kind": "project", "id": project, "revision": revision, "updated_at": updated,
            "data": data, "counts": counts}


def list_projects() -> list[dict[str, Any]]:
    """Summaries ``{id, name, revision, updated_at}`` of every project, sorted by id."""
    require_project(DEFAULT_PROJECT)
    items = []
    for folder in sorted(runtime_paths.workspaces_dir().iterdir()):
        if not folder.is_dir() or not ID_RE.match(folder.name) or ".." in folder.name:
            continue
        got = _read(folder / PROJECT_FILE)
        if got is None or not isinstance(got[0], dict):
            continue  # a folder without a readable record (read_json logged a corrupt one)
        data, raw = got
        items.append({"id": folder.name, "name": data.get("name", folder.name), "revision": revision_of(raw),
                      "updated_at": data.get("updated_at", "")})
    return items


def get_project(project: str) -> dict[str, Any]:
    """``{project, kind, id, revision, updated_at, data, counts}``."""
    require_project(project)
    got = _read(_project_file(project))
    if got is None:  # the record was unreadable and has just been moved aside
        raise NotFound(f"project {project!r} has no readable project.json (a corrupt one is moved aside as "
                       "project.json.corrupt-*); create the project again to restore it",
                       details={"kind": "project", "id": project})
    return _project_answer(project, got[0], revision_of(got[1]))


def create_project(data: Any, *, exist_ok: bool = False) -> dict[str, Any]:
    """Create a project record (``id`` required; ``name`` defaults to the id). Existing files in
    the folder (say, after a corrupt project.json was moved aside) are kept."""
    data = _require_object("project", data)
    if "id" not in data:
        raise InvalidInput("a new project needs an 'id' (letters, digits, '_', '.', '-')")
    project = check_id(data["id"], "project")
    stamp = now()
    obj = _parse_project({"name": project, **data, "created_at": stamp, "updated_at": stamp})[0].model_dump(mode="json")
    path = _project_file(project)
    with project_lock(project):
        got = _read(path)
        if got is not None:
            if exist_ok:
                return _project_answer(project, got[0], revision_of(got[1]))
            raise Conflict(f"project {project!r} already exists: patch it instead, or pick another id",
                           details={"kind": "project", "id": project})
        revision = _write(path, obj)
    _emit(project, "project", project, "created")
    return _project_answer(project, obj, revision)


def update_project(project: str, patch: Any, *, expected_revision: str | None = None) -> dict[str, Any]:
    """Deep-merge ``patch`` (name, description, metadata) into the record; the server owns
    ``created_at``/``updated_at`` and ignores them in the patch."""
    patch = _require_object("project patch", patch)
    _body_id("project", patch, project)
    require_project(project)
    path = _project_file(project)
    with project_lock(project):
        got = _read(path)
        if got is None:
            raise NotFound(f"project {project!r} was not found", details={"kind": "project", "id": project})
        current, raw = got
        _check_revision(f"project {project!r}", raw, expected_revision)
        current = current if isinstance(current, dict) else {}
        merged = deep_merge(current, {k: v for k, v in patch.items() if k not in SERVER_FIELDS})
        merged["id"] = project
        merged.setdefault("created_at", now())
        changed = merged != current
        if changed:
            merged["updated_at"] = now()
        obj = _parse_project(merged)[0].model_dump(mode="json")
        revision = _write(path, obj) if changed else revision_of(raw)
    if changed:
        _emit(project, "project", project, "updated")
    return _project_answer(project, obj, revision)


def delete_project(project: str, *, force: bool = False, expected_revision: str | None = None) -> dict[str, Any]:
    """Delete a project folder. One holding anything besides its record needs ``force``."""
    check_id(project, "project")
    root = project_dir(project)
    with project_lock(project):
        got = _read(root / PROJECT_FILE)
        if got is None:
            raise NotFound(f"project {project!r} was not found", details={"kind": "project", "id": project})
        _check_revision(f"project {project!r}", got[1], expected_revision)
        files = [p for p in root.rglob("*") if p.is_file() and p.name != PROJECT_FILE]
        if files and not force:
            raise Conflict(f"project {project!r} is not empty ({len(files)} file(s)); delete with force=true to "
                           "remove it and everything in it", details={"files": len(files)})
        # rename first, so a crash mid-delete never leaves a half-deleted project in the list
        trash = root.with_name(f".deleted-{project}-{uuid.uuid4().hex[:8]}")
        os.replace(root, trash)
        shutil.rmtree(trash)
    _emit(project, "project", project, "deleted")
    return {"project": project, "kind": "project", "id": project, "deleted": True, "files": len(files)}
