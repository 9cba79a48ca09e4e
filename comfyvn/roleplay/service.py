"""Import a chat log into a project: read -> transcript -> scenes + characters, stored together.

Files, under ``<project>/roleplay/`` (``<uid>`` = file-name slug + a hash of the name and the
file's first lines, so importing the same chat again, even after it went on, updates the same import):

    raw/<uid>.<ext>          the uploaded bytes, untouched
    processed/<uid>.json     the transcript (editable: POST /roleplay/apply_corrections)
    final/<uid>.json         the cleaned transcript (POST /roleplay/sample_llm)
    preview/<uid>.json       participants, line count, excerpt, synopsis, warnings

Scenes go to the project's scenes, new characters to its characters (matched by id or name
first). Everything is computed and validated before the first write; if a write fails, the
files written so far are removed and replaced ones restored, so a failed import leaves nothing
half-written. :func:`dry_run_log` runs the same reading and planning (:func:`_plan`) and stops
before the first write: it answers the preview document the import would store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import batch_writes, read_json
from comfyvn.projects import store
from comfyvn.projects.paths import check_id, project_dir
from comfyvn.projects.staging import ProjectStaging
from comfyvn.roleplay import readers
from comfyvn.roleplay.cleaner import (
    Cleaner,
    LLMCleaner,
    OfflineCleaner,
    clean_transcript,
)
from comfyvn.roleplay.formatter import Options, Participant, format_transcript, slug
from comfyvn.roleplay.transcript import Message, Transcript, UnreadableLog
from comfyvn.scenario.models import gc_paused

Progress = Callable[[float, str], None]
FOLDERS = ("raw", "processed", "final", "preview")
EXCERPT_LINES = 6


def roleplay_dir(project: str) -> Path:
    return project_dir(project) / "roleplay"


UID_HEAD_BYTES, UID_HEAD_LINES = 4096, 3  # a chat is identified by its name and its beginning


def import_uid(name: str, data: bytes) -> str:
    """File-name slug + 10 hex digits of the SHA-256 of the name and the first 3 lines (at most 4 KiB): the same
    chat, exported again after it went on, is the same import (updated), while another chat with
    the same file name is not."""
    stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", Path(name or "chat").name)
    head, end = data[:UID_HEAD_BYTES], -1
    for _ in range(UID_HEAD_LINES):  # at most the first lines: the header and the opening messages
        end = head.find(b"\n", end + 1)
        if end < 0:
            break
    key = stem.encode("utf-8") + b"\0" + (head[:end] if end >= 0 else head)
    return f"{slug(stem, 'chat')[:48]}-{hashlib.sha256(key).hexdigest()[:10]}"


def read_transcript(data: bytes, name: str, format: str | None = None) -> Transcript:
    """The transcript of an upload; 422 naming format, line and field when it cannot be read."""
    try:
        return readers.read(readers.Source(data, name), format)
    except UnreadableLog as exc:
        label, message = name or "upload", str(exc)
        if not message.startswith(label):
            message = f"{label}: {message}"
        raise InvalidInput(message, code="unreadable_log", details=exc.details()) from None
    except RecursionError:
        raise InvalidInput(f"{name or 'upload'}: nesting too deep to read", code="unreadable_log") from None


def import_log(data: bytes, name: str, *, project: str = store.DEFAULT_PROJECT, format: str | None = None,
               detail_level: str = "medium", swipes_as_choices: bool = False, title: str | None = None,
               overwrite: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Import one chat log; returns the import summary (uid, scenes, characters, warnings).

    Importing the same file again updates the same import, unless the user has edited it since
    (corrections, cleaning, or its scenes changed in the project): then 409 ``import_edited``,
    unless ``overwrite``.
    """
    # One collector pause for the whole import. Its millions of objects (no cycles) are freed by
    # reference counting when _import returns, before the collector runs again: resuming it while
    # they were alive would make it walk them all once (~0.5 s per 100,000 messages).
    with gc_paused():
        return _import(data, name, project, format, detail_level, swipes_as_choices, title, overwrite,
                       progress or (lambda fraction, message: None))


def _import(data: bytes, name: str, project: str, format: str | None, detail_level: str, swipes_as_choices: bool,
            title: str | None, overwrite: bool, say: Progress) -> dict[str, Any]:
    say(0.05, "reading")
    transcript, uid = _read_upload(data, name, project, format)
    with store.project_lock(project):  # the edit check and the writes see the same project
        if not overwrite:
            _refuse_if_edited(project, uid)
        say(0.4, f"formatting {len(transcript.messages)} messages")
        options = _import_options(uid, name, transcript, detail_level, swipes_as_choices, title)
        return _publish(project, uid, name, transcript, options, raw=data, say=say)


def dry_run_log(data: bytes, name: str, *, project: str = store.DEFAULT_PROJECT, format: str | None = None,
                detail_level: str = "medium", swipes_as_choices: bool = False, title: str | None = None,
                overwrite: bool = False) -> dict[str, Any]:
    """What :func:`import_log` would do, writing nothing: the preview document it would store
    (``GET /roleplay/preview/{uid}``'s shape) plus ``dry_run``, ``characters`` (``{id, name,
    created}``: matched or to be created), ``exists`` (an import with this uid is stored: importing
    updates it) and ``conflict`` (the 409 ``import_edited`` error the import would answer without
    ``overwrite``, as ``{code, message, details}``; None when it would not). Unreadable input raises
    exactly what the import raises."""
    transcript, uid = _read_upload(data, name, project, format)
    conflict = None
    if not overwrite:
        try:
            _refuse_if_edited(project, uid)
        except Conflict as exc:
            conflict = {"code": exc.code, "message": exc.message, "details": exc.details}
    options = _import_options(uid, name, transcript, detail_level, swipes_as_choices, title)
    try:
        with gc_paused():
            plan = _plan(project, uid, name, transcript, options, None)
    except RecursionError:
        raise _too_deep(name) from None
    exists = (roleplay_dir(project) / "preview" / f"{uid}.json").is_file()
    return plan.preview | {"dry_run": True, "project": project, "exists": exists, "conflict": conflict,
                           "characters": [{"id": c["id"], "name": c["name"], "created": created}
                                          for c, created in plan.characters]}


def _read_upload(data: bytes, name: str, project: str, format: str | None) -> tuple[Transcript, str]:
    """The transcript and import id of an upload (an import and a dry run read it the same way)."""
    store.require_project(project)
    if format is None:
        _refuse_other_kinds(data, name)
    return read_transcript(data, name, format), import_uid(name, data)


def _import_options(uid: str, name: str, transcript: Transcript, detail_level: str, swipes_as_choices: bool,
                    title: str | None) -> Options:
    return Options(detail_level=detail_level, swipes_as_choices=swipes_as_choices, scene_prefix=uid,
                   title=title or transcript.title, chat=name or None)


def _refuse_other_kinds(data: bytes, name: str) -> None:
    """A character card, lorebook or personas file sent as a chat gets pointed to the right door."""
    from comfyvn.sillytavern.folders import classify

    try:
        kind = classify(data, name)
    except Exception:  # noqa: BLE001 - classification is a courtesy; the chat readers decide below
        return
    if kind == "card" and data.startswith(b"\x89PNG"):
        from comfyvn.sillytavern.pngtext import read_text_chunks

        if not any(key in ("chara", "ccv3") for key in read_text_chunks(data).texts):
            raise InvalidInput(f"{name or 'upload'} is a PNG image with no character card in it, not a chat log",
                               code="not_a_chat", details={"kind": "image"})
    if kind in ("card", "world", "personas", "group"):
        what = {"card": "a character card", "world": "a World Info lorebook", "personas": "a personas file",
                "group": "a SillyTavern group definition (groups/<id>.json)"}[kind]
        hint = ("import the SillyTavern library folder with POST /st/import or `comfyvn import` so its group "
                "chats get their names" if kind == "group" else "import it with POST /st/import or `comfyvn import`")
        raise InvalidInput(f"{name or 'upload'} is {what}, not a chat log: {hint}", code="not_a_chat",
                           details={"kind": kind})


def _refuse_if_edited(project: str, uid: str, *, scenes_only: bool = False) -> None:
    """409 ``import_edited`` when remaking the import's scenes would discard the user's edits: its
    transcript corrected or cleaned (unless ``scenes_only``: corrections and cleaning are those
    edits), or one of its scenes changed in the project since the import wrote it."""
    document = _load(project, uid, "processed")
    if document is None:
        return
    reasons = []
    if document.get("edited") and not scenes_only:
        reasons.append("its transcript was corrected or cleaned")
    recorded = document.get("scene_revisions") or {}
    for scene_id, revision in sorted(recorded.items()):
        try:
            current = store.collection("scene").get(project, scene_id)["revision"]
        except NotFound:
            continue
        if current != revision:
            reasons.append(f"scene {scene_id!r} was changed after the import")
            break
    if reasons:
        raise Conflict(f"import {uid!r} has edits ({'; '.join(reasons)}); importing the file again would discard "
                       "them: send overwrite=true to replace them", code="import_edited",
                       details={"uid": uid, "reasons": reasons})


def _too_deep(name: str) -> InvalidInput:
    return InvalidInput(f"{name or 'upload'}: the data is nested too deeply to store", code="unreadable_log")


def _publish(project: str, uid: str, name: str, transcript: Transcript, options: Options, *,
             raw: bytes | None = None, cleaned: Transcript | None = None, edited: bool = False,
             say: Progress = lambda fraction, message: None) -> dict[str, Any]:
    """Format (the cleaned transcript when given), check, then write every file of the import at once."""
    try:
        # one project lock for deciding and writing: a card import or another chat cannot slip in
        # between "this character does not exist yet" and writing it
        with store.project_lock(project), gc_paused():  # no cycles: the collector would only slow it down
            return _publish_now(project, uid, name, transcript, options, raw, cleaned, edited, say)
    except RecursionError:
        raise _too_deep(name) from None


class _Plan(NamedTuple):
    """Everything an import writes, computed before the first write (a dry run stops here)."""

    scenes: list[dict[str, Any]]
    people: dict[str, Participant]
    characters: list[tuple[dict[str, Any], bool]]
    preview: dict[str, Any]


def _plan(project: str, uid: str, name: str, transcript: Transcript, options: Options,
          cleaned: Transcript | None) -> _Plan:
    scenes, people = format_transcript(cleaned or transcript, options)
    if not scenes:
        raise InvalidInput(f"{name or 'upload'}: every message is hidden or a system notice; nothing to import",
                           code="empty_log")
    characters = _characters(project, people)
    return _Plan(scenes, people, characters, preview_document(uid, name, cleaned or transcript, scenes, people))


def _publish_now(project: str, uid: str, name: str, transcript: Transcript, options: Options,
                 raw: bytes | None, cleaned: Transcript | None, edited: bool, say: Progress) -> dict[str, Any]:
    scenes, people, characters, preview = _plan(project, uid, name, transcript, options, cleaned)
    fresh = {s["id"] for s in scenes}  # scenes of an earlier import of this file that no longer exist:
    stale = sorted(p.stem for p in (project_dir(project) / "scenes").glob(f"{uid}-*.json")  # by name only,
                   if p.is_file() and p.stem not in fresh)  # never by reading the whole project
    say(0.75, "writing")
    base = roleplay_dir(project)
    with ProjectStaging(project) as staging:  # the preview is written last: it marks a complete import
        with batch_writes():  # one folder sync per folder, done before the preview below
            for character, created in characters:
                if created:
                    staging.put("character", character)
            revisions = {scene["id"]: staging.put("scene", scene) for scene in scenes}  # each one validated
            for scene_id in stale:
                staging.drop("scene", scene_id)
            staging.put("timeline", {"id": uid, "title": options.title or name or uid,
                                     "scenes": [s["id"] for s in scenes], "metadata": {"imported_from": name or None}})
            if raw is not None:
                staging.write(base / "raw" / f"{uid}.{_ext(name)}", raw)
            processed = processed_document(uid, name, transcript, options) | {
                "scene_revisions": revisions, "edited": edited}
            staging.write(base / "processed" / f"{uid}.json", processed)
            if cleaned is not None:
                staging.write(base / "final" / f"{uid}.json", processed_document(uid, name, cleaned, options))
            else:
                staging.remove(base / "final" / f"{uid}.json")  # an older cleaned copy no longer matches
        staging.write(base / "preview" / f"{uid}.json", preview)
    say(0.95, "done")
    for character, created in characters:
        modder_hooks.emit("on_character_imported", {"project": project, "character_id": character["id"],
                                                    "name": character["name"], "source": "chat", "created": created})
    summary = {"project": project, "uid": uid, "format": transcript.format, "scenes": [s["id"] for s in scenes],
               "messages": len(transcript.messages), "story_messages": len(transcript.story_messages()),
               "participants": [p.as_dict() for p in people.values()],
               "characters": [{"id": c["id"], "name": c["name"], "created": created} for c, created in characters],
               "warnings": [p.as_dict() for p in transcript.problems], "best_effort": transcript.best_effort,
               "cleaned": cleaned is not None}
    modder_hooks.emit("on_roleplay_imported", {"project": project, "uid": uid, "format": transcript.format,
                                               "scenes": summary["scenes"], "messages": summary["messages"],
                                               "warnings": len(summary["warnings"])})
    return summary


def _load(project: str, uid: str, folder: str) -> dict[str, Any] | None:
    check_id(uid, "import")
    document = read_json(roleplay_dir(project) / folder / f"{uid}.json")
    return document if isinstance(document, dict) else None


def _stored(project: str, uid: str, folder: str) -> dict[str, Any]:
    """The import's document in ``folder`` (``processed``, ``preview``); 404 when there is none."""
    store.require_project(project)
    document = _load(project, uid, folder)
    if document is None:
        raise NotFound(f"no roleplay import {uid!r} in project {project!r}", details={"uid": uid})
    return document


def _processed(project: str, uid: str) -> dict[str, Any]:
    return _stored(project, uid, "processed")


def _options_of(document: dict[str, Any], **changes: Any) -> Options:
    known = {k: v for k, v in (document.get("options") or {}).items() if k in Options.__dataclass_fields__}
    return Options(**{**known, **{k: v for k, v in changes.items() if v is not None}})


def apply_corrections(project: str, uid: str, *, messages: list[dict[str, Any]] | None = None,
                      speakers: dict[str, str] | None = None, detail_level: str | None = None,
                      swipes_as_choices: bool | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Persist editor edits into the processed transcript and re-make its scenes (409 when one of
    the scenes was edited in the project since, unless ``overwrite``).

    ``messages``: ``[{index, text?, speaker?, role?, hidden?}]``; ``speakers``: rename a speaker
    everywhere (``{"Sera": "Seraphina"}``, e.g. to map a speaker onto an existing character).
    """
    with store.project_lock(project):  # one read-modify-write: concurrent corrections both land
        return _apply_corrections(project, uid, messages, speakers, detail_level, swipes_as_choices, overwrite)


def _apply_corrections(project: str, uid: str, messages: list[dict[str, Any]] | None,
                       speakers: dict[str, str] | None, detail_level: str | None,
                       swipes_as_choices: bool | None, overwrite: bool) -> dict[str, Any]:
    document = _processed(project, uid)
    if not overwrite:
        _refuse_if_edited(project, uid, scenes_only=True)
    transcript = transcript_from(document)
    by_index = {m.index: m for m in transcript.messages}
    for edit in messages or []:
        if not isinstance(edit, dict) or not isinstance(edit.get("index"), int):
            raise InvalidInput("every correction needs an integer 'index' (the message index)",
                               details={"correction": edit})
        message = by_index.get(edit["index"])
        if message is None:
            raise InvalidInput(f"import {uid!r} has no message {edit['index']}", details={"index": edit["index"]})
        unknown = set(edit) - {"index", "text", "speaker", "role", "hidden"}
        if unknown:
            raise InvalidInput(f"unknown correction field(s) {sorted(unknown)}: use text, speaker, role, hidden",
                               details={"fields": sorted(unknown)})
        if "text" in edit:
            message.text = _string(edit["text"], "text")
        if "speaker" in edit:
            message.speaker = _string(edit["speaker"], "speaker")
        if "role" in edit:
            if edit["role"] not in ("user", "character", "narrator", "system"):
                raise InvalidInput("role must be user, character, narrator or system", details={"role": edit["role"]})
            message.role = edit["role"]
        if "hidden" in edit:
            message.hidden = bool(edit["hidden"])
    for old, new in (speakers or {}).items():
        new = _string(new, "speaker")
        for message in transcript.messages:
            if message.speaker == old:
                message.speaker = new
    options = _options_of(document, detail_level=detail_level, swipes_as_choices=swipes_as_choices)
    return _publish(project, uid, document.get("source", uid), transcript, options, edited=True)


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", details={"field": field})
    return value


CLEANERS = ("auto", "offline", "llm")


def sample_llm(project: str, uid: str, *, detail_level: str | None = None, overwrite: bool = False,
               cleaner: str = "auto", progress: Progress | None = None) -> dict[str, Any]:
    """Clean the processed transcript, store it as the final variant and re-make the scenes from it
    (409 when a scene was edited since, unless ``overwrite``).

    ``cleaner``: ``llm`` (the configured LLM provider; 422 when none is), ``offline`` (the
    deterministic cleaner), ``auto`` (the LLM when one is configured). The LLM is asked without
    holding the project lock; if the import changes meanwhile the result is refused (409).
    """
    document = _processed(project, uid)
    if not overwrite:
        _refuse_if_edited(project, uid, scenes_only=True)
    transcript = transcript_from(document)
    options = _options_of(document, detail_level=detail_level)
    chosen = choose_cleaner(cleaner)
    try:
        cleaned, stats = clean_transcript(transcript, options.detail_level, chosen, progress)
    finally:
        getattr(getattr(chosen, "provider", None), "close", lambda: None)()
    with store.project_lock(project):
        if _processed(project, uid) != document:
            raise Conflict(f"import {uid!r} changed while it was being cleaned; run the cleanup again",
                           code="import_changed", details={"uid": uid})
        if not overwrite:
            _refuse_if_edited(project, uid, scenes_only=True)
        summary = _publish(project, uid, document.get("source", uid), transcript, options, cleaned=cleaned,
                           edited=True)
    return summary | {"cleaner": chosen.name, "changes": stats}


def choose_cleaner(kind: str = "auto") -> Cleaner:
    """The cleaner ``kind`` names (see :func:`sample_llm`)."""
    from comfyvn.llm.provider import configured_provider

    if kind not in CLEANERS:
        raise InvalidInput(f"unknown cleaner {kind!r}; use one of {', '.join(CLEANERS)}", details={"field": "cleaner"})
    if kind == "offline":
        return OfflineCleaner()
    provider = configured_provider()
    if provider is not None:
        return LLMCleaner(provider)
    if kind == "llm":
        raise InvalidInput("no LLM provider is configured: set llm.provider to 'openai' and llm.base_url (for "
                           "example with `comfyvn settings set llm.base_url http://127.0.0.1:5001/v1`), or use "
                           "cleaner 'offline'", code="llm_not_configured", details={"field": "cleaner"})
    return OfflineCleaner()


def _ext(name: str) -> str:
    match = re.search(r"\.([A-Za-z0-9]{1,8})$", name or "")
    return match.group(1).lower() if match else "bin"


def _characters(project: str, people: dict[str, Participant]) -> list[tuple[dict[str, Any], bool]]:
    """Character records for the chat's characters: an existing one (same id or name) or a new one."""
    existing = store.collection("character").list(project)
    by_name = {str(item.get("name", "")).casefold(): item for item in existing}
    by_id = {item["id"]: item for item in existing}
    out = []
    for person in people.values():
        if person.role != "character":
            continue
        found = by_id.get(person.id) or by_name.get(person.name.casefold())
        if found is not None:
            out.append(({"id": found["id"], "name": found.get("name", person.name)}, False))
        else:
            out.append(({"id": check_id(person.id, "character"), "name": person.name,
                         "metadata": {"imported_from": "chat"}}, True))
    return out


def processed_document(uid: str, name: str, transcript: Transcript, options: Options) -> dict[str, Any]:
    return {"uid": uid, "source": name, "format": transcript.format, "title": transcript.title,
            "user_name": transcript.user_name, "character_names": transcript.character_names,
            "metadata": transcript.metadata, "best_effort": transcript.best_effort,
            "options": asdict(options), "problems": [p.as_dict() for p in transcript.problems],
            "messages": [message_dict(m) for m in transcript.messages]}


MESSAGE_FIELDS = tuple(Message.__dataclass_fields__)


def message_dict(message: Message) -> dict[str, Any]:
    """A message as JSON data (``dataclasses.asdict`` deep-copies every value: 20x slower here)."""
    return {name: getattr(message, name) for name in MESSAGE_FIELDS}


def transcript_from(document: dict[str, Any]) -> Transcript:
    """The transcript stored in a processed/final document."""
    messages = [Message(**m) for m in document.get("messages", [])]
    return Transcript(format=document.get("format", "unknown"), messages=messages, title=document.get("title"),
                      user_name=document.get("user_name"), character_names=document.get("character_names") or [],
                      metadata=document.get("metadata") or {}, best_effort=bool(document.get("best_effort")))


def preview_document(uid: str, name: str, transcript: Transcript, scenes: list[dict[str, Any]],
                     people: dict[str, Participant]) -> dict[str, Any]:
    story = transcript.story_messages()
    excerpt = [{"speaker": m.speaker, "text": m.text[:280]} for m in story[:EXCERPT_LINES]]
    counts = ", ".join(f"{p.name} ({p.messages})" for p in people.values())
    synopsis = (f"{len(story)} messages between {counts} in {len(scenes)} scene(s)"
                + (f", from {story[0].timestamp_raw} to {story[-1].timestamp_raw}" if story and story[0].timestamp_raw
                   and story[-1].timestamp_raw else "") + ".")
    return {"uid": uid, "source": name, "format": transcript.format, "title": transcript.title,
            "participants": [p.as_dict() for p in people.values()], "line_count": len(story),
            "hidden": sum(1 for m in transcript.messages if m.hidden), "excerpt": excerpt, "synopsis": synopsis,
            "scenes": [s["id"] for s in scenes], "warnings": [p.as_dict() for p in transcript.problems],
            "best_effort": transcript.best_effort}


def preview(project: str, uid: str) -> dict[str, Any]:
    return _stored(project, uid, "preview")
