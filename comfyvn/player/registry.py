"""The player's personas (who "you" are in a story) and which one is active.

Files, under the data folder (``comfyvn.config.runtime_paths.data_dir()``):

    persona/personas.json    the roster: {"version", "personas": [Persona, ... sorted by id],
                             "default": id | null, "updated_at"}
    persona/state.json       {"active": id | null, "updated_at"}
    persona/avatars/<file>   avatar images copied from SillyTavern's "User Avatars" folder

Personas are ``comfyvn.sillytavern.personas.Persona`` records (one persona model). Everything
here is plain Python and works without the server ("offline selection": ``set_active`` in any
process; the server, the CLI and the Studio all read the same state.json).

Both files are written atomically under one cross-process lock (``persona/.registry.lock``), so
a change touching both (deleting the active persona) is one step. ``JsonDocument`` locks one file;
the registry needs the two files to change together, hence its own lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import ValidationError

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import LOCK_TIMEOUT_SECONDS, atomic_write_bytes, atomic_write_json, read_json
from comfyvn.projects.paths import check_id
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern.personas import Persona, read_personas

log = logging.getLogger(__name__)
VERSION = 1
AVATAR_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".gif", ".avif"}
MAX_AVATAR_BYTES = 20 * 1024 * 1024


def persona_dir() -> Path:
    return runtime_paths.data_dir() / "persona"


def roster_path() -> Path:
    return persona_dir() / "personas.json"


def state_path() -> Path:
    return persona_dir() / "state.json"


def _lock() -> FileLock:
    path = persona_dir() / ".registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS, is_singleton=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- reading ------------------------------------------------------------------------------------

def _roster() -> tuple[dict[str, dict[str, Any]], str | None]:
    """(personas by id, default id). A damaged file is moved aside by ``read_json``; a damaged
    entry is logged and left out."""
    raw = read_json(roster_path(), default={})
    raw = raw if isinstance(raw, dict) else {}
    found: dict[str, dict[str, Any]] = {}
    for item in raw.get("personas") or []:
        try:
            persona = Persona.model_validate(item)
        except ValidationError as exc:
            log.error("Unreadable persona in the roster; ignoring it",
                      extra={"path": str(roster_path()), "error": exc.errors()[0]["msg"]})
            continue
        found[persona.id] = persona.model_dump(mode="json")
    default = raw.get("default")
    return found, default if isinstance(default, str) and default in found else None


def _active_id(personas: dict[str, dict[str, Any]]) -> str | None:
    state = read_json(state_path(), default={})
    active = state.get("active") if isinstance(state, dict) else None
    return active if isinstance(active, str) and active in personas else None


def _save_roster(personas: dict[str, dict[str, Any]], default: str | None) -> None:
    atomic_write_json(roster_path(), {"version": VERSION, "personas": [personas[k] for k in sorted(personas)],
                                      "default": default if default in personas else None, "updated_at": _now()})


def _save_state(active: str | None) -> None:
    atomic_write_json(state_path(), {"active": active, "updated_at": _now()})


def list_personas() -> dict[str, Any]:
    """``{personas: [...] sorted by id, default, active}`` (ids or null)."""
    personas, default = _roster()
    return {"personas": [personas[k] for k in sorted(personas)], "default": default,
            "active": _active_id(personas)}


def get_persona(persona_id: str) -> dict[str, Any]:
    personas, _default = _roster()
    found = personas.get(check_id(persona_id, "persona"))
    if found is None:
        raise _unknown(persona_id, personas)
    return found


def _unknown(persona_id: str, personas: dict[str, Any]) -> NotFound:
    known = ", ".join(sorted(personas)[:20]) or "none yet: import a personas file first"
    return NotFound(f"no persona {persona_id!r}; known personas: {known}",
                    details={"kind": "persona", "id": persona_id})


def active() -> dict[str, Any] | None:
    """The active persona, or None (none chosen, or the chosen one was deleted)."""
    personas, _default = _roster()
    found = _active_id(personas)
    return personas[found] if found else None


def active_name() -> str | None:
    """The active persona's name: the user's name in imported chats that do not name the user."""
    persona = active()
    return persona["name"] if persona else None


# -- changing -----------------------------------------------------------------------------------

def set_active(persona_id: str | None) -> dict[str, Any] | None:
    """Make ``persona_id`` the active persona (None clears it); 404 for an unknown id."""
    with _lock():
        personas, _default = _roster()
        if persona_id is not None:
            check_id(persona_id, "persona")
            if persona_id not in personas:
                raise _unknown(persona_id, personas)
        _save_state(persona_id)
    return personas[persona_id] if persona_id is not None else None


def delete_persona(persona_id: str) -> dict[str, Any]:
    """Remove a persona (and its copied avatar); clears the active persona / default if it was one."""
    with _lock():
        personas, default = _roster()
        check_id(persona_id, "persona")
        if persona_id not in personas:
            raise _unknown(persona_id, personas)
        removed = personas.pop(persona_id)
        was_active = _active_id({**personas, persona_id: removed}) == persona_id
        _save_roster(personas, None if default == persona_id else default)
        if was_active:
            _save_state(None)
        avatar = removed.get("metadata", {}).get("avatar_path")
        if isinstance(avatar, str) and not any(p.get("metadata", {}).get("avatar_path") == avatar
                                               for p in personas.values()):
            (persona_dir() / avatar).unlink(missing_ok=True)
    return {"id": persona_id, "deleted": True, "active_cleared": was_active}


def _avatar_name(avatar: str) -> str | None:
    """A safe file name for a copied avatar (the last path part of SillyTavern's name)."""
    name = avatar.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if Path(name).suffix.lower() not in AVATAR_SUFFIXES:
        return None
    try:
        return check_id(name, "avatar")
    except InvalidInput:
        return None


def import_roster(personas: Iterable[Persona], default: str | None = None, *,
                  avatars: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Merge personas into the roster by id (an imported persona replaces the stored one's
    fields; metadata is merged). ``default`` (an id among ``personas``) becomes the roster's
    default; when no persona is active yet, it also becomes the active one. ``avatars`` maps
    SillyTavern avatar file names to their bytes: copied to ``persona/avatars/``.

    Returns ``{added, updated, unchanged, default, active, avatars}`` (lists of ids)."""
    incoming = [p.model_dump(mode="json") for p in personas]
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    written: list[tuple[Path, bytes | None]] = []  # for undo: (path, old bytes or None)
    copied: list[str] = []
    with _lock():
        stored, old_default = _roster()
        active_before = _active_id(stored)
        try:
            for persona in incoming:
                data = avatars.get(persona["avatar"]) if avatars else None
                name = _avatar_name(persona["avatar"]) if data is not None else None
                if name is not None and len(data or b"") <= MAX_AVATAR_BYTES:
                    path = persona_dir() / "avatars" / name
                    old = path.read_bytes() if path.is_file() else None
                    if old != data:
                        written.append((path, old))
                        atomic_write_bytes(path, data or b"")
                    persona["metadata"]["avatar_path"] = f"avatars/{name}"
                    copied.append(persona["id"])
                current = stored.get(persona["id"])
                if current is None:
                    stored[persona["id"]] = persona
                    added.append(persona["id"])
                    continue
                merged = {**current, **persona, "metadata": {**current.get("metadata", {}), **persona["metadata"]}}
                if merged == current:
                    unchanged.append(persona["id"])
                else:
                    stored[persona["id"]] = Persona.model_validate(merged).model_dump(mode="json")
                    updated.append(persona["id"])
            new_default = default if default in stored else old_default
            now_active = active_before or new_default
            if added or updated or new_default != old_default or not roster_path().exists():
                _save_roster(stored, new_default)
            if now_active != active_before:
                _save_state(now_active)
        except BaseException:
            for path, old in reversed(written):
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, old)
            raise
    return {"added": added, "updated": updated, "unchanged": unchanged, "default": new_default,
            "active": now_active, "avatars": copied}


def import_file(data: bytes, name: str, *, avatars: dict[str, bytes] | None = None) -> dict[str, Any]:
    """Import a personas file (``personas_*.json`` backup, ``settings.json`` or its ``power_user``
    part): 422 ``unreadable_personas`` naming the problem when it is not one. The answer of
    ``import_roster`` plus ``warnings`` (the problems met while reading)."""
    try:
        found = read_personas(data, name)
    except UnreadableLog as exc:
        raise InvalidInput(str(exc), code="unreadable_personas", details=exc.details()) from None
    except RecursionError:
        raise InvalidInput(f"{name or 'upload'}: nested too deeply to read", code="unreadable_personas") from None
    result = import_roster(found.personas, found.default, avatars=avatars)
    return result | {"warnings": [p.as_dict() for p in found.problems]}
