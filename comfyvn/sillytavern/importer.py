"""Import a SillyTavern library (or any mix of files) into a project and the player registry.

``plan_path`` / ``plan_uploads`` say what there is (``comfyvn.sillytavern.folders``: ``classify``,
``discover``); ``import_items`` imports each item with the right function and reports each one
(``ok`` / ``error`` with the precise message / ``skipped``), never stopping at a failure:

- chats -> ``comfyvn.roleplay.service.import_log`` (scenes, characters matched by name);
- character cards -> a Character created, or updated when one has the card's id or name; the
  card's lorebook -> a World; greetings and the raw card kept; V3 ``emotion`` assets and the
  ``characters/<name>/`` sprite folder -> ``character.expression`` assets in the asset registry
  (recorded in ``metadata.expression_assets``); ``on_character_imported`` (source ``card``);
  see ``comfyvn.sillytavern.records``;
- World Info files -> World records;
- a character or world the user edited since its import is not written again: the item is an
  error 409 ``import_edited`` naming the fields, unless ``overwrite`` (see ``records``); chats
  likewise (``import_log(..., overwrite=)``); personas -> the player registry (``comfyvn.player.registry``);
- ``groups/<id>.json`` -> checked and used to title the group's chats (nothing stored).

Every item is atomic: its files and records are all written or none (a failed write undoes
the item's earlier writes).

Files are read through ``comfyvn.sillytavern.files``: regular files only, at most the server's body
limit (``server.max_body_bytes``, read once per import), and never through a link leading out of
the library folder; anything else is reported as ``skipped`` with the reason. ``plan_path`` refuses
a path that is neither a folder nor a regular file, and with ``root``, a path outside it.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from comfyvn.core.errors import (
    BadRequest,
    ComfyVNError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from comfyvn.player import registry
from comfyvn.projects import store
from comfyvn.roleplay import service
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern import files
from comfyvn.sillytavern.folders import (
    GROUP_OF,
    KINDS,
    Item,
    NotSillyTavernFolder,
    Plan,
    classify,
    discover,
    find_user_folder,
    is_card_image,
    search,
)
from comfyvn.sillytavern.personas import read_personas
from comfyvn.sillytavern.records import (
    WORLD_FIELDS,
    Run,
    Writes,
    edited_fields,
    import_card,
    refuse_edits,
    stamp,
    unreadable,
)
from comfyvn.sillytavern.worlds import read_world

__all__ = ["KINDS", "Item", "Plan", "NotSillyTavernFolder", "classify", "discover", "find_user_folder", "search",
           "plan_path", "plan_uploads", "import_items", "require_success"]

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
USER_PLACEHOLDERS = {"user", "you", "{{user}}"}  # what readers call the user when the file has no name


# -- plans ----------------------------------------------------------------------------------------

def plan_path(path: str | Path, *, root: str | Path | None = None, user: str | None = None,
              kinds: tuple[str, ...] | list[str] = KINDS) -> Plan:
    """The plan for a file or a SillyTavern data folder on this machine. A relative ``path`` is
    taken relative to ``root`` (the SillyTavern folder); with ``root``, the path (links followed,
    ``..`` resolved) must stay inside it: 422 ``path_outside_root`` otherwise. 422 ``invalid_path``
    naming the path when it does not exist or is neither a folder nor a regular file (a device, a
    FIFO, a socket); 422 ``not_sillytavern_folder`` for a folder that is not one."""
    given = Path(path).expanduser()
    within = None
    if root is not None:
        base = Path(root).expanduser()
        if not base.is_dir():
            raise InvalidInput(f"root {str(root)!r} is not a folder: give the SillyTavern folder", code="invalid_path",
                               details={"root": str(root)})
        given = (base / given).resolve()  # an absolute path stays itself, then is checked like the rest
        within = base.resolve()
        if not given.is_relative_to(within):
            raise InvalidInput(f"path {str(path)!r} leads outside root {str(root)!r} ('..' or a symbolic link): give "
                               "a path inside the SillyTavern folder", code="path_outside_root",
                               details={"path": str(path), "root": str(root)})
    elif not given.is_absolute():
        raise InvalidInput(f"path {str(path)!r} is relative: give an absolute path, or the SillyTavern folder "
                           "as 'root'", code="invalid_path", details={"path": str(path)})
    try:
        mode = given.stat().st_mode
    except (OSError, RuntimeError):
        raise InvalidInput(f"no such file or folder: {given}", code="invalid_path",
                           details={"path": str(given)}) from None
    if stat.S_ISDIR(mode):
        return discover(given, user, kinds)
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{given} is {files.kind_of(mode)}, not a file or folder: give a SillyTavern folder or "
                           "a file to import", code="invalid_path", details={"path": str(given)})
    return Plan(source=str(given), items=[Item(Path(path).name or given.name, given, within=within)])


def plan_uploads(files: list[tuple[str, bytes]]) -> Plan:
    return Plan(source="upload", items=[Item(name or f"upload-{n}", data=data) for n, (name, data) in
                                        enumerate(files, start=1)])


# -- importing ----------------------------------------------------------------------------------

def import_items(items: list[Item], *, project: str = store.DEFAULT_PROJECT, kinds: tuple[str, ...] | list[str] = KINDS,
                 format: str | None = None, detail_level: str = "medium", swipes_as_choices: bool = False,
                 overwrite: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Import every item; ``{project, items: [row], counts}``. A row: ``{item, kind, status
    (ok|error|skipped), id, result, error ({message, code, status, details}), warnings}``.
    ``format`` forces the chat reader (and makes files of unknown kind chats); ``overwrite``
    replaces what the user edited since an earlier import (otherwise 409 ``import_edited``)."""
    store.require_project(project)
    say = progress or (lambda fraction, message: None)
    run = Run(project, set(kinds), format, detail_level, swipes_as_choices, overwrite=overwrite,
              limit=files.body_limit())
    rows = []
    for number, item in enumerate(items):
        say(number / max(1, len(items)), item.name)
        rows.append(_import_one(item, run))
    say(1.0, f"{len(items)} item(s)")
    return {"project": project, "items": rows, "counts": counts(rows)}


def counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = {"total": len(rows), "ok": 0, "error": 0, "skipped": 0}
    by_kind: dict[str, dict[str, int]] = {}
    for row in rows:
        total[row["status"]] += 1
        group = GROUP_OF.get(row["kind"] or "", "unknown")
        by_kind.setdefault(group, {"ok": 0, "error": 0, "skipped": 0})[row["status"]] += 1
    return total | {"kinds": by_kind}


def require_success(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` unless nothing was imported and something failed: then the one item's error
    with its own status (one item: a 409 stays a 409) or 422 ``import_failed`` with every row."""
    errors = [row for row in report["items"] if row["status"] == "error"]
    if not errors or report["counts"]["ok"]:
        return report
    if len(report["items"]) == 1:
        error = errors[0]["error"]
        kind = _ERRORS.get(error.get("status", 422), InvalidInput)
        raise kind(error["message"], code=error["code"], details=error["details"])
    raise InvalidInput(f"none of the {len(errors)} item(s) could be imported; first: {errors[0]['item']}: "
                       f"{errors[0]['error']['message']}", code="import_failed",
                       details={"items": report["items"], "counts": report["counts"]})


_ERRORS: dict[int, type[ComfyVNError]] = {400: BadRequest, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
                                         422: InvalidInput}


def _import_one(item: Item, run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {"item": item.name, "kind": item.kind, "status": "ok", "id": None, "result": None,
                           "error": None, "warnings": []}
    try:
        if item.kind is not None and GROUP_OF[item.kind] not in run.kinds:
            return row | {"status": "skipped", "result": f"{GROUP_OF[item.kind]} not asked for"}
        data = _read(item, run.limit)
        kind = item.kind or classify(data, item.name)
        if run.format and kind is None:
            kind = "chat"  # a forced reader: read what is not recognisably something else as a chat
        if item.searched and (kind is None or (kind == "card" and data.startswith(b"\x89PNG")
                                               and not is_card_image(data))):
            return row | {"status": "skipped", "result": "not a chat log, card, World Info or personas file"}
        if kind is None:
            raise InvalidInput(f"{item.name}: not something ComfyVN imports: expected a chat log, a character card "
                               "(PNG, JSON, CHARX, YAML), a World Info file or a personas file", code="unknown_file")
        row["kind"] = kind
        if GROUP_OF[kind] not in run.kinds:
            return row | {"status": "skipped", "result": f"{GROUP_OF[kind]} not asked for"}
        row["id"], row["result"], row["warnings"] = _IMPORTERS[kind](data, item, run)
    except files.Skip as exc:
        row |= {"status": "skipped", "result": f"{exc.reason}: not read"}
    except ComfyVNError as exc:
        row |= {"status": "error", "error": {"message": exc.message, "code": exc.code, "status": exc.status,
                                             "details": exc.details}}
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        row |= {"status": "error", "error": {"message": f"{item.name}: {exc.strerror or exc}{where}",
                                             "code": "os_error", "status": 500, "details": {}}}
    except Exception as exc:  # noqa: BLE001 - one item's defect must not stop the others; logged in full
        log.exception("Importing an item failed", extra={"item": item.name, "project": run.project})
        row |= {"status": "error", "error": {"message": f"{item.name}: {type(exc).__name__}: {exc}",
                                             "code": "internal_error", "status": 500, "details": {}}}
    return row


def _read(item: Item, limit: int) -> bytes:
    """The item's bytes; files.Skip when it is not a regular file inside its folder, or is larger
    than ``limit`` (uploads too: the same limit for every way in)."""
    if item.data is not None:
        if len(item.data) > limit:
            raise files.too_large(len(item.data), limit)
        return item.data
    assert item.path is not None
    return files.read(item.path, limit, item.within)


# -- chats --------------------------------------------------------------------------------------

def _chat(data: bytes, item: Item, run: Run) -> tuple[str, Any, list[Any]]:
    project = run.project
    summary = service.import_log(data, item.file_name, project=project, title=item.title, format=run.format,
                                 detail_level=run.detail_level, swipes_as_choices=run.swipes_as_choices,
                                 overwrite=run.overwrite)
    if any(c["created"] for c in summary["characters"]):
        run.forget_names()
    warnings = list(summary["warnings"])
    persona = registry.active_name()
    user = next((p for p in summary["participants"] if p["role"] == "user"), None)
    if (persona and user and not summary["format"].startswith("sillytavern.")
            and user["name"].casefold() in USER_PLACEHOLDERS and user["name"] != persona):
        names = {user["name"], *user["aliases"]}
        try:
            summary = service.apply_corrections(project, summary["uid"], speakers={n: persona for n in names})
            message, severity = f"the file does not name the user: named after the active persona {persona!r}", "info"
        except ComfyVNError as exc:  # the chat is imported; only the renaming failed
            message, severity = f"the user could not be named after the active persona: {exc.message}", "warning"
        warnings.append({"message": message, "line": None, "field": None, "severity": severity})
    result = {k: summary[k] for k in ("uid", "format", "scenes", "messages", "characters")}
    return summary["uid"], result, warnings


# -- worlds -------------------------------------------------------------------------------------

def _world(data: bytes, item: Item, run: Run) -> tuple[str, Any, list[Any]]:
    project = run.project
    try:
        found = read_world(data, item.file_name)
    except UnreadableLog as exc:
        raise unreadable(exc, item, "unreadable_world") from None
    world = found.world.model_dump(mode="json")
    try:
        current = store.collection("world").get(project, world["id"])["data"]
    except NotFound:
        current = None
    if not run.overwrite:
        refuse_edits(item, [("world", world["id"], edited_fields(current, WORLD_FIELDS))])
    created = current is None
    with Writes(project) as writes:
        writes.put("world", stamp(world, WORLD_FIELDS))
    result = {"id": world["id"], "name": world["name"], "entries": len(world["entries"]), "created": created}
    return world["id"], result, [p.as_dict() for p in found.problems]


# -- personas and groups --------------------------------------------------------------------------

def _personas(data: bytes, item: Item, run: Run) -> tuple[str, Any, list[Any]]:
    try:
        found = read_personas(data, item.file_name)
    except UnreadableLog as exc:
        raise unreadable(exc, item, "unreadable_personas") from None
    warnings = [p.as_dict() for p in found.problems]
    avatars = {}
    for persona in found.personas:
        path = item.avatars.get(persona.avatar)
        if path is None:
            continue
        try:
            avatars[persona.avatar] = files.read(path, min(registry.MAX_AVATAR_BYTES, run.limit), item.within,
                                                 setting=run.limit <= registry.MAX_AVATAR_BYTES)
        except (files.Skip, OSError) as exc:
            reason = exc.reason if isinstance(exc, files.Skip) else (exc.strerror or str(exc))
            warnings.append({"message": f"avatar {path.name} not copied: {reason}", "line": None,
                             "field": None, "severity": "warning"})
    result = registry.import_roster(found.personas, found.default, avatars=avatars)
    summary = f"{len(result['added'])} added, {len(result['updated'])} updated, {len(result['unchanged'])} unchanged"
    return summary, result, warnings


def _group(data: bytes, item: Item, run: Run) -> tuple[str, Any, list[Any]]:
    try:
        group = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{item.name}: not a SillyTavern group file: not valid JSON ({exc})",
                           code="unreadable_group", details={"line": exc.lineno}) from None
    if not isinstance(group, dict) or not isinstance(group.get("members"), list):
        raise InvalidInput(f"{item.name}: not a SillyTavern group file: expected an object with 'members'",
                           code="unreadable_group", details={"field": "members"})
    name = group.get("name") if isinstance(group.get("name"), str) else Path(item.file_name).stem
    listed = group.get("chats") if isinstance(group.get("chats"), list) else []
    chats = [c for c in [group.get("chat_id"), *listed] if isinstance(c, str)]
    result = {"name": name, "members": [m for m in group["members"] if isinstance(m, str)],
              "chats": list(dict.fromkeys(chats))}
    return name, result, []


_IMPORTERS: dict[str, Callable[[bytes, Item, Run], tuple[str, Any, list[Any]]]] = {
    "chat": _chat, "card": import_card, "world": _world, "personas": _personas, "group": _group}
