"""The player's personas (who "you" are in a story) and which one is active.

Files, under the data folder (``comfyvn.config.runtime_paths.data_dir()``):

    persona/personas.json    the roster: {"version", "personas": [Persona, ... sorted by id],
                             "default": id | null, "updated_at"}
    persona/state.json       {"active": id | null, "updated_at"}
    persona/avatars/<file>   avatar images copied from SillyTavern's "User Avatars" folder

Personas are ``comfyvn.sillytavern.personas.Persona`` records (one persona model). Everything
here is plain Python and works without the server ("offline selection": ``set_active`` in any
process; the server, the CLI and the Studio all read the same state.json).

Every change is one step, with the project's two store mechanisms and nothing of its own:

- the lock: ``state.json`` is a ``comfyvn.core.store.JsonDocument``; every change runs inside its
  ``mutate`` (one cross-process lock, ``persona/.state.json.lock``; state.json is written last);
- the undo: the other files a change writes (the roster, avatars) go through the import's
  ``Staging`` writer (``comfyvn.core.store``), so when a later write fails - the state, the
  roster - every earlier one is undone: the roster, the state and the avatars change together or
  not at all. Each file itself is written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import JsonDocument
from comfyvn.projects.paths import check_id
from comfyvn.core.store import Staging
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


def _state() -> JsonDocument:
    return JsonDocument(state_path())


def _change(change: Callable[[Staging, dict[str, Any], dict[str, dict[str, Any]], str | None], str | None]) -> None:
    """Run ``change(writes, state, personas, default)`` under the registry's lock; it writes the
    roster and avatars through ``writes`` and returns the active persona id to store. state.json
    is written last; when any write fails, every earlier one is undone and the error raised."""

    def mutate(state: dict[str, Any]) -> dict[str, Any]:
        personas, default = _roster()
        before = _active_in(state, personas)
        active = change(writes, state, personas, default)
        if state and active == before:
            return state  # unchanged: written back as it is
        return {"active": active, "updated_at": _now()}

    with Staging() as writes:
        _state().mutate(mutate)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- reading ------------------------------------------------------------------------------------

def _roster() -> tuple[dict[str, dict[str, Any]], str | None]:
    """(personas by id, default id). A damaged file is moved aside by ``read_json``; a damaged
    entry is logged and left out."""
    raw = JsonDocument(roster_path()).read()
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


def _active_in(state: dict[str, Any], personas: dict[str, dict[str, Any]]) -> str | None:
    active = state.get("active")
    return active if isinstance(active, str) and active in personas else None


def _active_id(personas: dict[str, dict[str, Any]]) -> str | None:
    return _active_in(_state().read(), personas)


def _roster_document(personas: dict[str, dict[str, Any]], default: str | None) -> dict[str, Any]:
    return {"version": VERSION, "personas": [personas[k] for k in sorted(personas)],
            "default": default if default in personas else None, "updated_at": _now()}


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
    chosen: list[dict[str, Any]] = []

    def change(writes: Staging, state: dict[str, Any], personas: dict[str, Any], default: str | None) -> str | None:
        if persona_id is not None:
            check_id(persona_id, "persona")
            if persona_id not in personas:
                raise _unknown(persona_id, personas)
            chosen.append(personas[persona_id])
        return persona_id

    _change(change)
    return chosen[0] if chosen else None


def delete_persona(persona_id: str) -> dict[str, Any]:
    """Remove a persona (and its copied avatar); clears the active persona / default if it was one."""
    cleared: list[bool] = []

    def change(writes: Staging, state: dict[str, Any], personas: dict[str, Any], default: str | None) -> str | None:
        check_id(persona_id, "persona")
        if persona_id not in personas:
            raise _unknown(persona_id, personas)
        active = _active_in(state, personas)
        removed = personas.pop(persona_id)
        writes.write(roster_path(), _roster_document(personas, None if default == persona_id else default))
        avatar = removed.get("metadata", {}).get("avatar_path")
        if isinstance(avatar, str) and not any(p.get("metadata", {}).get("avatar_path") == avatar
                                               for p in personas.values()):
            writes.remove(persona_dir() / avatar)
        cleared.append(active == persona_id)
        return None if active == persona_id else active

    _change(change)
    return {"id": persona_id, "deleted": True, "active_cleared": cleared[0]}


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
    result: dict[str, Any] = {"added": [], "updated": [], "unchanged": [], "default": None, "active": None,
                              "avatars": []}

    def change(writes: Staging, state: dict[str, Any], stored: dict[str, Any], old_default: str | None) -> str | None:
        active_before = _active_in(state, stored)
        for persona in incoming:
            data = avatars.get(persona["avatar"]) if avatars else None
            name = _avatar_name(persona["avatar"]) if data is not None else None
            if data is not None and name is not None and len(data) <= MAX_AVATAR_BYTES:
                path = persona_dir() / "avatars" / name
                if not path.is_file() or path.read_bytes() != data:
                    writes.write(path, data)
                persona["metadata"]["avatar_path"] = f"avatars/{name}"
                result["avatars"].append(persona["id"])
            current = stored.get(persona["id"])
            if current is None:
                stored[persona["id"]] = persona
                result["added"].append(persona["id"])
                continue
            merged = {**current, **persona, "metadata": {**current.get("metadata", {}), **persona["metadata"]}}
            if merged == current:
                result["unchanged"].append(persona["id"])
            else:
                stored[persona["id"]] = Persona.model_validate(merged).model_dump(mode="json")
                result["updated"].append(persona["id"])
        new_default = default if default in stored else old_default
        if result["added"] or result["updated"] or new_default != old_default or not roster_path().exists():
            writes.write(roster_path(), _roster_document(stored, new_default))
        result["default"], result["active"] = new_default, active_before or new_default
        return result["active"]

    _change(change)
    return result


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
