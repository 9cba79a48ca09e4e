"""SillyTavern chat files (``.jsonl``): one JSON object per line, an optional header line first.

Handles both header generations (1.12: real ``user_name`` / ``character_name``; 1.18+: ``"unused"``,
names then come from the messages), group chats (no header, speakers keyed by ``original_avatar``),
every ``send_date`` shape (``comfyvn.roleplay.dates``), swipes (``mes`` is canon, the other swipes
become ``alternates``), ``is_system`` (system notices vs messages the user hid), narrator messages,
``extra.display_text`` and the ``{{user}}`` / ``{{char}}`` macros. A line that cannot be read is
reported (line number, field) and skipped; the rest is imported. See docs/roleplay-formats.md.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from comfyvn.roleplay.dates import parse_date
from comfyvn.roleplay.readers import Reader, Source
from comfyvn.roleplay.transcript import Message, Role, Transcript, UnreadableLog
from comfyvn.scenario.models import gc_paused

ID = "sillytavern.jsonl"
_SNIFF_LINES = 8  # non-blank lines looked at to find the first parsable one
MAX_DEPTH = 64  # deeper objects in extra / chat_metadata are dropped: later steps copy and save them recursively
_UNUSED = "unused"  # what 1.18+ headers write instead of the real names
_SYSTEM_NAMES = frozenset({"SillyTavern System"})
_MACRO = re.compile(r"\{\{(user|char)\}\}", re.IGNORECASE)


def sniff(source: Source) -> float:
    """0.95 when the first parsable line is a chat header, 0.9 for a message object; 0 otherwise."""
    kind = _first_object_kind(source.data)
    if kind is None:
        return 0.0
    score = 0.95 if kind == "header" else 0.9
    return score if source.suffix == "jsonl" else score - 0.05


def _first_object_kind(data: bytes) -> str | None:
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    looked = 0
    while start < len(data) and looked < _SNIFF_LINES:
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line, start = data[start:end], end + 1
        if not line.strip():
            continue
        looked += 1
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            if _is_header(obj):
                return "header"
            if isinstance(obj.get("name"), str) and isinstance(obj.get("mes"), str):
                return "message"
        return None
    return None


def _is_header(obj: dict[str, Any]) -> bool:
    return "mes" not in obj and ("chat_metadata" in obj or "user_name" in obj or "character_name" in obj)


def read(source: Source) -> Transcript:
    with gc_paused():
        return _read(source)


def _read(source: Source) -> Transcript:
    data = source.data[3:] if source.data.startswith(b"\xef\xbb\xbf") else source.data
    transcript = Transcript(format=ID, title=_title(source.name))
    problems = transcript
    header: dict[str, Any] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    # Lines are parsed as bytes: orjson checks each line's UTF-8, so one bad byte costs one line, not the file.
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.problem(f"line {number} is not JSON ({_short(str(exc))}); skipped", line=number)
            continue
        if not isinstance(obj, dict):
            problems.problem(f"line {number} is JSON but not an object ({_type(obj)}); skipped", line=number)
            continue
        if _is_header(obj):
            if header is None and not rows:
                header = obj
                _read_header(obj, number, transcript, problems)
            else:
                problems.problem(f"line {number} looks like a chat header but is not the first line; skipped",
                             line=number)
            continue
        rows.append((number, obj))
    if header is None and not rows:
        first = transcript.problems[0] if transcript.problems else None
        raise UnreadableLog(f"{source.name or 'the file'}: no line is a SillyTavern chat object"
                            + (f" (first problem: {first.message})" if first else ""),
                            format=ID, line=first.line if first else None)
    _fill_names(transcript, rows, source.name)
    _Messages(transcript, problems).read(rows)
    problems.close_problems()
    if not transcript.messages:
        first = next((p for p in transcript.problems if p.line is not None), None)
        reason = f"no readable message (first problem: {first.message})" if first else "only a header, no messages"
        raise UnreadableLog(f"{source.name or 'the file'}: {reason}", format=ID,
                            line=first.line if first else None, field=first.field if first else None)
    return transcript


def _read_header(obj: dict[str, Any], number: int, transcript: Transcript, problems: Transcript) -> None:
    meta = obj.get("chat_metadata")
    if isinstance(meta, dict) and _too_deep(meta):
        problems.problem(f"chat_metadata is nested deeper than {MAX_DEPTH} levels; ignored", number, "chat_metadata")
    elif isinstance(meta, dict):
        transcript.metadata = dict(meta)
    elif meta is not None:
        problems.problem(f"chat_metadata should be an object, got {_type(meta)}; ignored", number, "chat_metadata")
    for key in ("user_name", "character_name"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            problems.problem(f"{key} should be text, got {_type(value)}; ignored", number, key)
    user, char = _real_name(obj.get("user_name")), _real_name(obj.get("character_name"))
    transcript.user_name = user
    if char:
        transcript.character_names.append(char)
    if "create_date" in obj:
        iso, raw = parse_date(obj["create_date"])
        if raw is not None:
            transcript.metadata.setdefault("create_date", raw)
            if iso is not None:
                transcript.metadata.setdefault("create_date_iso", iso)
            else:
                problems.problem(f"create_date {_short(raw)!r} is not a date format ComfyVN knows; kept as written",
                             number, "create_date", "info")


def _fill_names(transcript: Transcript, rows: list[tuple[int, dict[str, Any]]], file_name: str) -> None:
    """Names the header did not give: the file name's ``<Character> - <date>``, then the messages."""
    if not transcript.character_names:
        char = _file_character(file_name)
        if char:
            transcript.character_names.append(char)
    need_user, need_char = transcript.user_name is None, not transcript.character_names
    for _, obj in rows:
        if not (need_user or need_char):
            break
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip() or not isinstance(obj.get("mes"), str):
            continue
        extra = obj.get("extra")
        if isinstance(extra, dict) and isinstance(extra.get("type"), str) or name in _SYSTEM_NAMES:
            continue
        if obj.get("is_user") is True:
            if need_user:
                transcript.user_name, need_user = name, False
        elif need_char and obj.get("is_system") is not True:
            transcript.character_names.append(name)
            need_char = False


class _Messages:
    """Turns message objects into ``Message``s (the per-line rules live here)."""

    def __init__(self, transcript: Transcript, problems: Transcript) -> None:
        self.transcript, self.problems = transcript, problems
        self.user = transcript.user_name
        self.char = transcript.character_names[0] if transcript.character_names else None
        narrator = transcript.metadata.get("narrator_name")
        self.narrator = narrator if isinstance(narrator, str) and narrator.strip() else None
        self.seen_chars = dict.fromkeys(transcript.character_names)

    def read(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        for number, obj in rows:
            message = self.message(number, obj)
            if message is not None:
                self.transcript.messages.append(message)
                if message.role == "character":
                    self.seen_chars.setdefault(message.speaker, None)
        self.transcript.character_names = list(self.seen_chars)

    def message(self, number: int, obj: dict[str, Any]) -> Message | None:
        add = self.problems.problem
        mes, name = obj.get("mes"), obj.get("name")
        if not isinstance(mes, str):
            add(f"line {number}: " + ("no mes (message text)" if mes is None else f"mes should be text, got {_type(mes)}")
                + "; skipped", number, "mes", "error")
            return None
        if not isinstance(name, str) or not name.strip():
            add(f"line {number}: " + ("no name" if name is None else f"name should be non-empty text, got {_type(name)}")
                + "; skipped", number, "name", "error")
            return None
        extra = obj.get("extra")
        if extra is None:
            extra = {}
        elif not isinstance(extra, dict):
            add(f"line {number}: extra should be an object, got {_type(extra)}; ignored", number, "extra")
            extra = {}
        elif extra and _too_deep(extra):
            add(f"line {number}: extra is nested deeper than {MAX_DEPTH} levels; ignored", number, "extra")
            extra = {}
        is_user, is_system = obj.get("is_user"), obj.get("is_system")
        if is_user is not True and is_user is not False:
            is_user = self.flag(is_user, "is_user", number)
        if is_system is not True and is_system is not False:
            is_system = self.flag(is_system, "is_system", number)
        out: dict[str, Any] = {"source_extra": extra} if extra else {}
        kind = extra.get("type")
        role: Role = "user" if is_user else "character"
        hidden, speaker = False, name
        if kind == "narrator":
            role, hidden, speaker = "narrator", is_system, self.narrator or name
            if speaker != name:
                out["name"] = name
        elif isinstance(kind, str) and kind or is_system and (name in _SYSTEM_NAMES or extra.get("isSmallSys") is True):
            role = "system"
            out["system_type"] = kind if isinstance(kind, str) and kind else "notice"
        elif is_system:
            hidden = True
        text = mes
        display = extra.get("display_text")
        if isinstance(display, str) and display and display != mes:
            text, out["mes"] = display, mes
        char = speaker if role == "character" else self.char
        if "{{" in text:
            replaced = self.macros(text, char)
            if replaced != text:
                out["raw_text"], text = text, replaced
        iso, raw = parse_date(obj.get("send_date"))
        if raw is not None and iso is None:
            add(f"line {number}: send_date {_short(raw)!r} is not a date format ComfyVN knows; kept as written",
                number, "send_date", "info")
        alternates = self.swipes(obj, mes, number, char, out) if "swipes" in obj else []
        for key in ("gen_started", "gen_finished", "force_avatar", "title"):
            value = obj.get(key)
            if isinstance(value, str) and value:
                out[key] = value
        avatar = obj.get("original_avatar")
        return Message(index=len(self.transcript.messages), speaker=speaker, text=text, role=role, line=number,
                       timestamp=iso, timestamp_raw=raw, hidden=hidden, alternates=alternates,
                       avatar=avatar if isinstance(avatar, str) and avatar else None, extra=out)

    def flag(self, value: Any, key: str, number: int) -> bool:
        if value is None:
            return False
        reading = value in (1, "true", "True") if isinstance(value, int | float | str) else False
        shown = repr(_short(value)) if isinstance(value, str) else str(value) if isinstance(value, int | float) \
            else _type(value)
        self.problems.problem(f"line {number}: {key} should be true or false, got {shown}; "
                          f"read as {'true' if reading else 'false'}", number, key)
        return reading

    def macros(self, text: str, char: str | None) -> str:
        """``{{user}}`` / ``{{char}}`` (any case) replaced in one pass; unknown names leave the macro."""
        user = self.user
        parts = text.split("{{user}}") if user is not None else [text]
        if char is not None:
            parts = [part.replace("{{char}}", char) for part in parts]
        if any("{{" in part for part in parts):  # other spellings: {{User}}, {{CHAR}} ...
            def replace(match: re.Match[str]) -> str:
                value = user if match.group(1).lower() == "user" else char
                return value if value is not None else match.group(0)

            parts = [_MACRO.sub(replace, part) if "{{" in part else part for part in parts]
        return user.join(parts) if user is not None else parts[0]

    def swipes(self, obj: dict[str, Any], mes: str, number: int, char: str | None,
               out: dict[str, Any]) -> list[str]:
        """The unchosen swipes (``mes`` is canon); records ``swipe_id`` and the swipes' indices."""
        swipes, add = obj.get("swipes"), self.problems.problem
        if not isinstance(swipes, list):
            if swipes is not None:
                add(f"line {number}: swipes should be a list, got {_type(swipes)}; ignored", number, "swipes")
            return []
        swipe_id = obj.get("swipe_id")
        if isinstance(swipe_id, int) and not isinstance(swipe_id, bool):
            if not 0 <= swipe_id < len(swipes):
                add(f"line {number}: swipe_id {swipe_id} is out of range for {len(swipes)} swipes; "
                    "mes kept as the chosen reply", number, "swipe_id")
            elif swipes[swipe_id] != mes:
                add(f"line {number}: swipes[{swipe_id}] differs from mes; mes kept as the chosen reply, "
                    "the swipe kept as an alternate", number, "swipes", "info")
        elif swipe_id is not None:
            add(f"line {number}: swipe_id should be a whole number, got {_type(swipe_id)}; ignored",
                number, "swipe_id")
        info = obj.get("swipe_info", obj.get("swipes_info"))
        info = info if isinstance(info, list) else []
        alternates: list[str] = []
        ids: list[int] = []
        infos: list[Any] = []
        for position, swipe in enumerate(swipes):
            if not isinstance(swipe, str):
                add(f"line {number}: swipes[{position}] should be text, got {_type(swipe)}; skipped",
                    number, "swipes")
                continue
            if swipe == mes or not swipe.strip():
                continue
            if "{{" in swipe:
                swipe = self.macros(swipe, char)
            alternates.append(swipe)
            ids.append(position)
            entry = info[position] if position < len(info) else None
            infos.append(entry if isinstance(entry, dict) and not _too_deep(entry) else None)
        if alternates:
            if isinstance(swipe_id, int) and not isinstance(swipe_id, bool):
                out["swipe_id"] = swipe_id
            out["alternate_swipe_ids"] = ids
            if any(entry is not None for entry in infos):
                out["alternate_info"] = infos
        return alternates


def _too_deep(value: dict[str, Any] | list[Any]) -> bool:
    """Whether containers nest deeper than ``MAX_DEPTH`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _real_name(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() and value != _UNUSED else None


def _title(file_name: str) -> str | None:
    stem = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    if stem.lower().endswith(".jsonl"):
        stem = stem[:-6]
    return stem.strip() or None


def _file_character(file_name: str) -> str | None:
    return character_from_title(_title(file_name))


def character_from_title(title: str | None) -> str | None:
    """``Seraphina`` from ``Seraphina - 2024-09-28@01h00m07s`` (the date is checked; branches name nobody)."""
    name, sep, date = (title or "").rpartition(" - ")
    date = date.removesuffix(" imported").strip()
    if not sep or name.startswith("Branch #") or parse_date(date)[0] is None:
        return None
    return name.strip() or None


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


READERS = [Reader(ID, "SillyTavern chat (.jsonl): single-character and group chats, any version",
                  sniff, read)]
