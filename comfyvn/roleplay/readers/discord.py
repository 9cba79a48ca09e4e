"""DiscordChatExporter logs: the JSON export and the plain-text (TXT) export.

Speakers are the server nickname (else the user name). Roles: when a channel has both bots and
humans, bots are characters and humans the user; when it has only one kind (or the TXT export, which
does not say), the first author to speak is the user and every other author a character; a single
author is a character. Discord system notices (joins, pins, ...) become ``system`` messages.
Attachments are listed in ``extra["attachments"]``; a message with only attachments reads
``[attachment: file]``. See docs/roleplay-formats.md, "DiscordChatExporter".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from comfyvn.roleplay.readers import Reader, Source
from comfyvn.roleplay.readers.jsonlog import (
    MISSING,
    JsonLines,
    Problems,
    json_object,
    kind,
    name_of,
    sniffer,
    stamp,
    take_text,
)
from comfyvn.roleplay.transcript import Message, Role, Transcript, UnreadableLog

JSON_ID, TXT_ID = "discord.json", "discord.txt"
_CHAT_TYPES = ("Default", "Reply")  # every other message type is a Discord system notice
_RULE = re.compile(r"={20,}")
_HEADER = re.compile(r"\[(?P<date>[^\]\n]{4,64})\] (?P<author>.+?)(?P<pinned> \(pinned\))?")
_CLOCK = re.compile(r"\d:\d\d")  # every DiscordChatExporter date has a time of day
_SECTIONS = {"{Attachments}": "attachments", "{Embed}": "embeds", "{Stickers}": "stickers",
             "{Reactions}": "reactions"}
_EXPORTED = re.compile(r"Exported ([\d,. ]+) message\(s\)")
# DiscordChatExporter writes TXT dates in the exporting machine's locale ("g" format); the usual ones:
_TXT_DATES = ("%m/%d/%Y %I:%M %p", "%d-%b-%y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y %H:%M",
              "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


def author_roles(authors: list[tuple[str, bool | None]]) -> dict[str, Role]:
    """Role per author key, from ``(key, is_bot)`` in speaking order (``None`` = not known)."""
    order = list(dict.fromkeys(key for key, _ in authors))
    bots = {key for key, bot in authors if bot}
    if bots and len(bots) < len(order):
        return {key: "character" if key in bots else "user" for key in order}
    if len(order) < 2:
        return dict.fromkeys(order, "character")
    return {key: "user" if key == order[0] else "character" for key in order}


def _file_of(url: str) -> str:
    return url.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].split("?", 1)[0]


def _attachment_text(names: list[str]) -> str:
    return "\n".join(f"[attachment: {name}]" for name in names)


# --- JSON ------------------------------------------------------------------------------------------
@sniffer
def sniff_json(source: Source) -> float:
    """0.97 for ``{guild, channel, messages}``; 0.85 for messages with ``author`` objects and ``content``."""
    data = source.json()
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return 0.0
    if isinstance(data.get("guild"), dict) and isinstance(data.get("channel"), dict):
        return 0.97
    sample = data["messages"][:5]
    shaped = all(isinstance(m, dict) and isinstance(m.get("author"), dict) and "content" in m for m in sample)
    return 0.85 if sample and shaped else 0.0


def read_json(source: Source) -> Transcript:
    data = json_object(source, JSON_ID, "'messages'")
    messages = data.get("messages", MISSING)
    if not isinstance(messages, list):
        raise UnreadableLog(f"'messages' is {kind(messages)}, expected a list", format=JSON_ID, line=1,
                            field="messages")
    guild = data.get("guild") if isinstance(data.get("guild"), dict) else {}
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
    t = Transcript(format=JSON_ID, title=name_of(channel.get("name")))
    meta = {"guild": guild.get("name"), "channel": channel.get("name"), "category": channel.get("category"),
            "topic": channel.get("topic"), "exported_at": data.get("exportedAt")}
    t.metadata = {key: value for key, value in meta.items() if name_of(value)}
    problem = Problems(t)
    lines = JsonLines(source.text, ("messages", "*"))
    authors: list[tuple[str, bool | None]] = []
    for i, m in enumerate(messages):
        field, line = f"messages[{i}]", lines("messages", i)
        if not isinstance(m, dict):
            problem(f"{field} is {kind(m)}, expected an object; skipped", line, field)
            continue
        message = _json_message(problem, m, i, field, line)
        if message is None:
            continue
        t.messages.append(message)
        if message.role != "system":
            author = m["author"] if isinstance(m.get("author"), dict) else {}
            authors.append((name_of(author.get("id")) or message.speaker, author.get("isBot") is True))
    roles = author_roles(authors)
    keys = iter(authors)
    for message in t.messages:
        if message.role != "system":
            message.role = roles[next(keys)[0]]
    return problem.finish()


def _json_message(problem: Problems, m: dict[str, Any], i: int, field: str, line: int | None) -> Message | None:
    author = m.get("author", MISSING)
    if not isinstance(author, dict):
        problem(f"{field}.author is {kind(author)}, expected an object; speaker set to 'Unknown'", line,
                f"{field}.author")
        author = {}
    speaker = name_of(author.get("nickname"), author.get("name")) or "Unknown"
    content = m.get("content")
    text = "" if content is None else take_text(problem, content, line=line, field=f"{field}.content") or ""
    listed = m.get("attachments") if isinstance(m.get("attachments"), list) else []
    found = [a for a in listed if isinstance(a, dict)]
    urls = [url for url in (name_of(a.get("url")) for a in found) if url]
    files = [name for name in (name_of(a.get("fileName")) or _file_of(name_of(a.get("url")) or "") for a in found)
             if name]
    extra: dict[str, Any] = {"id": m["id"]} if isinstance(m.get("id"), str) else {}
    if files:
        extra["attachments"], extra["attachment_urls"] = files, urls
    if not text.strip():
        embeds = [e for e in m["embeds"] if isinstance(e, dict)] if isinstance(m.get("embeds"), list) else []
        shown = [part for e in embeds for part in (name_of(e.get("title")), name_of(e.get("description"))) if part]
        stickers = m.get("stickers") if isinstance(m.get("stickers"), list) else []
        text = _attachment_text(files) or "\n".join(shown) or "\n".join(
            f"[sticker: {name_of(s.get('name'))}]" for s in stickers if isinstance(s, dict) and name_of(s.get("name")))
    if not text.strip():
        problem(f"{field} has no text, attachment or embed; skipped", line, field, "info")
        return None
    reference = m.get("reference")
    if isinstance(reference, dict) and name_of(reference.get("messageId")):
        extra["reply_to"] = reference["messageId"]
    if m.get("isPinned") is True:
        extra["pinned"] = True
    if name_of(m.get("timestampEdited")):
        extra["edited"] = m["timestampEdited"]
    iso, raw = stamp(m.get("timestamp"))
    kind_ = m.get("type")
    role: Role = "system" if isinstance(kind_, str) and kind_ not in _CHAT_TYPES else "character"
    return Message(i, speaker, text, role, line=line, timestamp=iso, timestamp_raw=raw, extra=extra)


# --- TXT -------------------------------------------------------------------------------------------
@sniffer
def sniff_txt(source: Source) -> float:
    """0.97 when the text starts with the export's preamble (a rule of ``=`` then ``Guild: ...``)."""
    if source.is_json:
        return 0.0
    head = source.text[:2048].lstrip("\r\n ").split("\n", 2)
    return 0.97 if len(head) > 1 and _RULE.fullmatch(head[0].rstrip()) and head[1].startswith("Guild:") else 0.0


def _txt_date(raw: str) -> tuple[str | None, str | None]:
    iso, kept = stamp(raw)
    if iso is None:
        for pattern in _TXT_DATES:
            try:
                return datetime.strptime(raw.strip(), pattern).isoformat(), kept
            except ValueError:
                continue
    return iso, kept


def read_txt(source: Source) -> Transcript:
    try:
        lines = [line.rstrip("\r") for line in source.text.split("\n")]
    except UnreadableLog as exc:
        raise UnreadableLog(f"{exc}, not a DiscordChatExporter text file", format=TXT_ID, line=exc.line) from None
    n = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if n + 1 >= len(lines) or not _RULE.fullmatch(lines[n].strip()) or not lines[n + 1].startswith("Guild:"):
        raise UnreadableLog("no DiscordChatExporter preamble (a line of '=' then 'Guild: ...')", format=TXT_ID,
                            line=n + 1)
    t = Transcript(format=TXT_ID, best_effort=True)
    problem = Problems(t)
    n += 1
    while n < len(lines) and not _RULE.fullmatch(lines[n].strip()):
        key, _, value = lines[n].partition(": ")
        if key in ("Guild", "Channel", "Topic", "After", "Before") and value.strip():
            t.metadata[key.lower()] = value.strip()
        n += 1
    t.title = t.metadata.get("channel")
    end = len(lines)
    while end > n and not lines[end - 1].strip():
        end -= 1
    if end - 3 > n and _RULE.fullmatch(lines[end - 1].strip()) and _EXPORTED.fullmatch(lines[end - 2].strip()):
        end -= 3  # the closing block: rule, "Exported N message(s)", rule
    blocks: list[tuple[int, re.Match[str], list[str]]] = []
    for number in range(n + 1, end):
        line = lines[number]
        header = _HEADER.fullmatch(line) if not lines[number - 1].strip() or not blocks else None
        if header and _CLOCK.search(header["date"]):
            blocks.append((number + 1, header, []))
        elif blocks:
            blocks[-1][2].append(line)
        elif line.strip():
            problem("text before the first message; ignored", number + 1)
    authors: list[tuple[str, bool | None]] = []
    for index, (line_no, header, body) in enumerate(blocks):
        content, sections = _split_body(body)
        urls = sections.pop("attachments", [])
        files = [_file_of(url) for url in urls]
        text = content if content.strip() else _attachment_text(files) or "\n".join(sections.get("embeds", []))
        if not text.strip():
            problem("message without text; skipped", line_no, None, "info")
            continue
        extra: dict[str, Any] = {key: value for key, value in sections.items() if value}
        if files:
            extra["attachments"], extra["attachment_urls"] = files, urls
        if header["pinned"]:
            extra["pinned"] = True
        iso, raw = _txt_date(header["date"])
        speaker = header["author"].strip() or "Unknown"
        authors.append((speaker, None))
        t.messages.append(Message(index, speaker, text, "character", line=line_no, timestamp=iso,
                                  timestamp_raw=raw, extra=extra))
    roles = author_roles(authors)
    for message in t.messages:
        message.role = roles[message.speaker]
    return problem.finish()


def _split_body(body: list[str]) -> tuple[str, dict[str, list[str]]]:
    """A TXT message body -> (content, {attachments|embeds|stickers|reactions: lines})."""
    cut = next((j for j in range(1, len(body)) if body[j] in _SECTIONS and not body[j - 1].strip()), len(body))
    content = body[:cut]
    while content and not content[-1].strip():
        content.pop()
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body[cut:]:
        if line in _SECTIONS:
            current = sections.setdefault(_SECTIONS[line], [])
        elif line.strip() and current is not None:
            current.append(line)
    return "\n".join(content), sections


READERS = [
    Reader(JSON_ID, "DiscordChatExporter JSON export", sniff_json, read_json),
    Reader(TXT_ID, "DiscordChatExporter plain-text (TXT) export", sniff_txt, read_txt),
]
