"""JSON chat logs from other front ends: oobabooga, Agnai, RisuAI, CAI Tools and a lenient generic shape.

Each reader reads every message it can and records a ``Problem`` (line, JSON path) for each one it cannot.
Names a file does not carry become "User" / the name in the file name / "Character". The rules:
docs/roleplay-formats.md, "oobabooga, Agnai, RisuAI, CAI Tools, generic JSON".
"""

from __future__ import annotations

import html
import re
from typing import Any

from comfyvn.roleplay.readers import Reader, Source
from comfyvn.roleplay.readers.discord import sniff_json as sniff_discord
from comfyvn.roleplay.readers.jsonlog import (
    CHARACTER,
    MISSING,
    USER,
    JsonLines,
    Problems,
    json_object,
    kind,
    load_json,
    name_from_file,
    name_of,
    show,
    sniffer,
    stamp,
    take_text,
)
from comfyvn.roleplay.transcript import Message, Role, Transcript, UnreadableLog

# --- oobabooga text-generation-webui ------------------------------------------------------------
OOBA = "oobabooga.json"
_BEGIN = "<|BEGIN-VISIBLE-CHAT|>"


@sniffer
def sniff_oobabooga(source: Source) -> float:
    """0.95 for ``{internal, visible}`` / ``{data, data_visible}`` lists; one of them alone: 0.9 / 0.6 (pairs)."""
    data = source.json()
    if not isinstance(data, dict):
        return 0.0
    for key, shown, alone in (("internal", "visible", 0.9), ("data", "data_visible", 0.6)):
        rows, seen = data.get(key), data.get(shown)
        if isinstance(rows, list) and isinstance(seen, list):
            return 0.95
        sample = (rows if isinstance(rows, list) else seen if isinstance(seen, list) else [])[:5]
        pairs = sum(isinstance(row, list) and len(row) >= 2 and isinstance(row[0], str) for row in sample)
        if sample and pairs * 2 >= len(sample):
            return alone
    return 0.0


def read_oobabooga(source: Source) -> Transcript:
    data = json_object(source, OOBA, "'internal'/'visible' rows")
    key, vkey = ("internal", "visible") if "internal" in data or "visible" in data else ("data", "data_visible")
    rows, shown = data.get(key, MISSING), data.get(vkey, MISSING)
    if not isinstance(rows, list) and not isinstance(shown, list):
        raise UnreadableLog(f"'{key}' is {kind(rows)}, expected a list of [user, character] pairs",
                            format=OOBA, line=1, field=key)
    t = Transcript(format=OOBA, metadata={"shape": f"{key}/{vkey}"})
    problem = Problems(t)
    lines = JsonLines(source.text, (key,), (vkey,), (key, "*"), (vkey, "*"), (key, "*", "*"), (vkey, "*", "*"))
    for name, value in ((key, rows), (vkey, shown)):
        if value is not MISSING and not isinstance(value, list):
            problem(f"'{name}' is {kind(value)}, expected a list; ignored", lines(name), name)
    rows, shown = (value if isinstance(value, list) else [] for value in (rows, shown))
    if rows and shown and len(rows) != len(shown):
        problem(f"'{key}' has {len(rows)} rows but '{vkey}' has {len(shown)}; the longer one is read to its end",
                lines(vkey), vkey)
    info = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    character = name_from_file(source.name) or CHARACTER
    for i in range(max(len(rows), len(shown))):
        row = rows[i] if i < len(rows) and isinstance(rows[i], list) and len(rows[i]) >= 2 else None
        vrow = shown[i] if i < len(shown) and isinstance(shown[i], list) and len(shown[i]) >= 2 else None
        if row is None and vrow is None:
            problem(f"row {i} is not a [user, character] pair; skipped", lines(key, i) or lines(vkey, i), f"{key}[{i}]")
            continue
        row_meta = row[3] if row is not None and len(row) > 3 and isinstance(row[3], dict) else {}
        for half, meta_key in ((0, "user"), (1, "assistant")):
            internal = row[half] if row is not None else None
            visible = vrow[half] if vrow is not None else None
            if half == 0 and internal == _BEGIN:
                continue
            if isinstance(visible, str):
                text, where = html.unescape(visible), (vkey, i, half)
            elif isinstance(internal, str):
                text, where = internal, (key, i, half)
            else:
                field = f"{key}[{i}][{half}]"
                problem(f"{field} is {kind(internal)}, expected text; skipped", lines(key, i), field)
                continue
            if not text.strip():
                continue
            role: Role = "user" if half == 0 else "character"
            speaker = USER if half == 0 else character
            if half == 0 and row_meta.get("role") == "system":
                role, speaker = "system", "System"
            meta = info.get(f"{meta_key}_{i}")
            meta = meta if isinstance(meta, dict) else {}
            iso, raw = stamp(meta.get("timestamp"))
            extra = {"internal": internal} if isinstance(internal, str) and internal != text else {}
            t.messages.append(Message(len(t.messages), speaker, text, role, line=lines(*where) or lines(where[0], i),
                                      timestamp=iso, timestamp_raw=raw, alternates=_versions(meta, text), extra=extra))
    return problem.finish()


def _versions(meta: dict[str, Any], chosen: str) -> list[str]:
    """Other versions (regenerations, edits) of a message from newer oobabooga ``metadata``."""
    versions = meta.get("versions")
    current = meta.get("current_version_index")
    found: list[str] = []
    for j, version in enumerate(versions if isinstance(versions, list) else ()):
        if j == current or not isinstance(version, dict):
            continue
        shown = version.get("visible_content")
        text = html.unescape(shown) if isinstance(shown, str) and shown.strip() else version.get("content")
        if isinstance(text, str) and text.strip() and text != chosen and text not in found:
            found.append(text)
    return found


# --- Agnai -------------------------------------------------------------------------------------
AGNAI = "agnai.json"
_AGNAI_KEYS = ("greeting", "sampleChat", "scenario", "treeLeafId")


@sniffer
def sniff_agnai(source: Source) -> float:
    """0.95 for ``{messages: [{msg, userId|characterId}]}`` or messages with ``msg`` beside Agnai keys."""
    data = source.json()
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return 0.0
    sample = [m for m in data["messages"][:10] if isinstance(m, dict)]
    if sum("msg" in m for m in sample) * 2 < len(sample) or "guild" in data:
        return 0.0
    marked = any("userId" in m or "characterId" in m for m in sample)
    keys = sum(k in data for k in _AGNAI_KEYS)
    return 0.95 if sample and (marked or keys) else 0.9 if keys >= 2 else 0.0


def read_agnai(source: Source) -> Transcript:
    data = json_object(source, AGNAI, "'messages'")
    messages = data.get("messages", MISSING)
    greeting = data.get("greeting") if isinstance(data.get("greeting"), str) else ""
    if not isinstance(messages, list) and not greeting.strip():
        raise UnreadableLog(f"'messages' is {kind(messages)}, expected a list", format=AGNAI, line=1, field="messages")
    messages = messages if isinstance(messages, list) else []
    t = Transcript(format=AGNAI, title=name_of(data.get("name")) if data.get("name") != "Exported" else None)
    t.metadata = {meta: data[key] for key, meta in (("scenario", "scenario"), ("sampleChat", "sample_chat"))
                  if name_of(data.get(key))}
    problem = Problems(t)
    lines = JsonLines(source.text, ("messages", "*"), ("greeting",))
    chars = [m for m in messages if isinstance(m, dict) and m.get("characterId")]
    named = (name_of(m.get("name"), m.get("handle")) for m in chars)
    character = name_of(*named) or name_from_file(source.name) or CHARACTER
    first_char = next((m.get("msg") for m in chars), None)
    offset = 0
    if greeting.strip() and not (isinstance(first_char, str) and first_char.strip() == greeting.strip()):
        t.messages.append(Message(0, character, greeting, "character", line=lines("greeting"),
                                  extra={"greeting": True}))
        offset = 1
    for i, m in enumerate(messages):
        field, line = f"messages[{i}]", lines("messages", i)
        if not isinstance(m, dict):
            problem(f"{field} is {kind(m)}, expected an object; skipped", line, field)
            continue
        text = take_text(problem, m.get("msg", MISSING), line=line, field=f"{field}.msg")
        if text is None or not text.strip():
            continue
        name = name_of(m.get("name"), m.get("handle"))
        if m.get("userId"):
            role: Role = "user"
            speaker = USER if name in (None, "You") else name
        elif m.get("characterId") or name:
            role, speaker = "character", name or character
        else:
            role, speaker = "narrator", "Narrator"
        iso, raw = stamp(m.get("createdAt"))
        extras = m.get("extras") if isinstance(m.get("extras"), list) else []
        alternates = list(dict.fromkeys(x for x in extras if isinstance(x, str) and x.strip() and x != text))
        extra = {k: m[k] for k in ("_id", "parent", "ooc") if isinstance(m.get(k), str) or m.get(k) is True}
        t.messages.append(Message(i + offset, speaker, text, role, line=line, timestamp=iso, timestamp_raw=raw,
                                  hidden=m.get("ooc") is True, alternates=alternates, extra=extra))
    return problem.finish()


# --- RisuAI ------------------------------------------------------------------------------------
RISU = "risuai.json"
_RISU_ROLES: dict[str, Role] = {"user": "user", "char": "character", "assistant": "character", "system": "system"}


@sniffer
def sniff_risuai(source: Source) -> float:
    """0.97 for ``{type: "risuChat" | "risuAllChats", data}``."""
    data = source.json()
    return 0.97 if isinstance(data, dict) and data.get("type") in ("risuChat", "risuAllChats") else 0.0


def read_risuai(source: Source) -> Transcript:
    data = json_object(source, RISU, "type 'risuChat'")
    body = data.get("data", MISSING)
    if data.get("type") == "risuAllChats" and isinstance(body, list):
        chats = [(f"data[{c}]", ("data", c), chat) for c, chat in enumerate(body)]
    elif isinstance(body, dict):
        chats = [("data", ("data",), body)]
    else:
        raise UnreadableLog(f"'data' is {kind(body)}, expected a chat object", format=RISU, line=1, field="data")
    t = Transcript(format=RISU, title=name_of(body.get("name")) if isinstance(body, dict) else None)
    if isinstance(body, dict) and name_of(body.get("note")):
        t.metadata["note"] = body["note"]
    problem = Problems(t)
    lines = JsonLines(source.text, ("data", "*"), ("data", "message", "*"), ("data", "*", "message", "*"))
    character = name_from_file(source.name) or CHARACTER
    for c, (prefix, at, chat) in enumerate(chats):
        messages = chat.get("message", MISSING) if isinstance(chat, dict) else MISSING
        if not isinstance(messages, list):
            what = f"{prefix}.message is {kind(messages)}" if isinstance(chat, dict) else f"{prefix} is {kind(chat)}"
            problem(f"{what}, expected a chat with a list of messages; skipped", lines(*at), prefix)
            continue
        starts_scene = c > 0
        for i, m in enumerate(messages):
            field, line = f"{prefix}.message[{i}]", lines(*at, "message", i)
            if not isinstance(m, dict):
                problem(f"{field} is {kind(m)}, expected an object; skipped", line, field)
                continue
            text = take_text(problem, m.get("data", MISSING), line=line, field=f"{field}.data")
            if text is None or not text.strip():
                continue
            role = _RISU_ROLES.get(m.get("role")) if isinstance(m.get("role"), str) else None
            if role is None:
                problem(f"{field}.role is {show(m.get('role', MISSING))}, expected 'user' or 'char'; read as "
                        "the character", line, f"{field}.role")
                role = "character"
            default = {"user": USER, "system": "System"}.get(role, character)
            iso, raw = stamp(m.get("time"))
            extra: dict[str, Any] = {k: m[k] for k in ("saying", "chatId") if isinstance(m.get(k), str)}
            if starts_scene:
                extra["scene_break_before"], starts_scene = True, False
            t.messages.append(Message(len(t.messages), name_of(m.get("name")) or default, text, role, line=line,
                                      timestamp=iso, timestamp_raw=raw, extra=extra))
    return problem.finish()


# --- CAI Tools (character.ai exports) ----------------------------------------------------------
CAI = "caitools.json"


@sniffer
def sniff_caitools(source: Source) -> float:
    """0.95 for ``{histories: {histories: [...]}}``."""
    data = source.json()
    inner = data.get("histories") if isinstance(data, dict) else None
    return 0.95 if isinstance(inner, dict) and isinstance(inner.get("histories"), list) else 0.0


def read_caitools(source: Source) -> Transcript:
    data = json_object(source, CAI, "'histories'")
    inner = data.get("histories")
    histories = inner.get("histories", MISSING) if isinstance(inner, dict) else MISSING
    if not isinstance(histories, list):
        raise UnreadableLog(f"'histories.histories' is {kind(histories)}, expected a list of chats",
                            format=CAI, line=1, field="histories.histories")
    t = Transcript(format=CAI)
    problem = Problems(t)
    lines = JsonLines(source.text, ("histories", "histories", "*"), ("histories", "histories", "*", "msgs", "*"))
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    card = info.get("character") if isinstance(info.get("character"), dict) else {}
    character = name_of(card.get("name")) or name_from_file(source.name) or CHARACTER
    for h, history in enumerate(histories):
        prefix = f"histories.histories[{h}]"
        msgs = history.get("msgs", MISSING) if isinstance(history, dict) else MISSING
        if not isinstance(msgs, list):
            what = f"{prefix}.msgs is {kind(msgs)}" if isinstance(history, dict) else f"{prefix} is {kind(history)}"
            where = lines("histories", "histories", h)
            problem(f"{what}, expected a chat with a list of messages; skipped", where, prefix)
            continue
        starts_scene = h > 0
        for i, m in enumerate(msgs):
            field, line = f"{prefix}.msgs[{i}]", lines("histories", "histories", h, "msgs", i)
            if not isinstance(m, dict):
                problem(f"{field} is {kind(m)}, expected an object; skipped", line, field)
                continue
            text = take_text(problem, m.get("text", MISSING), line=line, field=f"{field}.text")
            if text is None or not text.strip():
                continue
            src = m.get("src") if isinstance(m.get("src"), dict) else {}
            if not isinstance(src.get("is_human"), bool):
                problem(f"{field}.src.is_human is {kind(src.get('is_human', MISSING))}; read as the character",
                        line, f"{field}.src.is_human")
            human = src.get("is_human") is True
            extra: dict[str, Any] = {"history": h}
            if starts_scene:
                extra["scene_break_before"], starts_scene = True, False
            t.messages.append(Message(len(t.messages), name_of(src.get("name")) or (USER if human else character),
                                      text, "user" if human else "character", line=line, extra=extra))
    return problem.finish()


# --- generic {lines|messages: [...]} -----------------------------------------------------------
GENERIC = "generic.json"
_SPEAKER_KEYS = ("speaker", "name", "author", "character", "sender", "from")
_TEXT_KEYS = ("text", "content", "message", "mes", "msg")
_TIME_KEYS = ("timestamp", "time", "date", "created_at", "createdAt", "send_date")
_ROLE_WORDS: dict[str, Role] = {
    "user": "user", "human": "user", "you": "user", "player": "user", "assistant": "character",
    "bot": "character", "char": "character", "character": "character", "model": "character", "ai": "character",
    "system": "system", "narrator": "narrator", "narration": "narrator"}
_NAMED_LINE = re.compile(r"(?:\[(?P<time>[^\]\n]{1,40})\]\s*)?(?P<name>[^:\n\[\]]{1,48}?)\s*:(?:\s+(?P<text>.*))?$",
                         re.DOTALL)


def _generic_items(data: Any) -> tuple[str, list[Any]] | None:
    if isinstance(data, list):
        return "", data
    if isinstance(data, dict):
        for key in ("lines", "messages"):
            if isinstance(data.get(key), list):
                return key, data[key]
    return None


def _readable(item: Any) -> bool:
    if isinstance(item, str):
        return bool(_NAMED_LINE.match(item))
    return isinstance(item, dict) and any(isinstance(item.get(key), str) for key in _TEXT_KEYS)


@sniffer
def sniff_generic(source: Source) -> float:
    """0.4 for ``{lines|messages: [...]}`` of readable items (0.3 for a bare list); 0 for known shapes."""
    found = _generic_items(source.json())
    known = (sniff_oobabooga, sniff_agnai, sniff_risuai, sniff_caitools, sniff_discord)
    if found is None or any(sniff(source) for sniff in known):
        return 0.0
    key, items = found
    sample = items[:10]
    readable = sum(_readable(item) for item in sample)
    if not key:
        return 0.3 if sample and readable * 2 >= len(sample) else 0.0
    return 0.4 if readable else 0.2


def read_generic(source: Source) -> Transcript:
    data = load_json(source, GENERIC)
    found = _generic_items(data)
    if found is None:
        raise UnreadableLog(f"the file is {kind(data)} without 'lines' or 'messages', expected a list of messages",
                            format=GENERIC, line=1, field="lines")
    key, items = found
    t = Transcript(format=GENERIC, title=name_of(data.get("title"), data.get("name")) if key else None)
    problem = Problems(t)
    lines = JsonLines(source.text, (key, "*") if key else ("*",))
    for i, item in enumerate(items):
        field = f"{key}[{i}]"
        line = lines(key, i) if key else lines(i)
        if isinstance(item, str):
            match = _NAMED_LINE.match(item)
            match = match if match and re.search(r"[^\W\d_]", match["name"]) else None  # "12: ..." is no name
            speaker, text = (match["name"].strip(), match["text"] or "") if match else (None, item)
            when: Any = match["time"] if match else None
            role_word = None
        elif isinstance(item, dict):
            author = next((item[k] for k in _SPEAKER_KEYS if k in item), None)
            if isinstance(author, dict):
                author = name_of(author.get("nickname"), author.get("name"))
            speaker = name_of(author)
            value = next((item[k] for k in _TEXT_KEYS if k in item), MISSING)
            text = take_text(problem, value, line=line, field=f"{field}.text")
            when = next((item[k] for k in _TIME_KEYS if k in item), None)
            role_word = item.get("role") if isinstance(item.get("role"), str) else None
            if role_word is None and isinstance(item.get("is_user"), bool):
                role_word = "user" if item["is_user"] else "character"
        else:
            problem(f"{field} is {kind(item)}, expected a string or an object; skipped", line, field)
            continue
        if text is not None and not text.strip():
            problem(f"{field} has no text; skipped", line, field, "info")
        if text is None or not text.strip():
            continue
        role = _ROLE_WORDS.get((role_word or "").lower()) or _ROLE_WORDS.get((speaker or "").lower())
        if speaker is None and role is None and name_of(role_word):  # a name written as the role
            speaker = name_of(role_word)
        if speaker is None:
            role = role or "narrator"
            speaker = {"user": USER, "character": CHARACTER, "system": "System"}.get(role, "Narrator")
        iso, raw = stamp(when)
        t.messages.append(Message(i, speaker, text, role or "character", line=line, timestamp=iso, timestamp_raw=raw))
    return problem.finish()


READERS = [
    Reader(OOBA, "oobabooga chat history (internal/visible or data/data_visible)", sniff_oobabooga, read_oobabooga),
    Reader(AGNAI, "Agnai chat export", sniff_agnai, read_agnai),
    Reader(RISU, "RisuAI chat export (risuChat / risuAllChats)", sniff_risuai, read_risuai),
    Reader(CAI, "CAI Tools character.ai history export", sniff_caitools, read_caitools),
    Reader(GENERIC, "generic JSON: {lines|messages: ['Name: text' | {speaker, text}]}", sniff_generic, read_generic),
]
