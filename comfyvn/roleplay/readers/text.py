"""Plain-text chat logs: SillyTavern ``.txt`` exports (``sillytavern.txt``) and generic
``Name: text`` transcripts (``transcript.plain``: ``[timestamp]``, ``---`` / ``***`` scene breaks,
``Name (aside): text``).

Neither format marks where a message ends, so a line that looks like ``Word: ...`` may be a new
message or part of the previous one. SillyTavern exports start messages only after a blank line;
plain transcripts start one at a known speaker (see ``_Layout``). Status blocks (``Mood: calm`` /
``HP: 10``) stay inside their message. The rules are in docs/roleplay-formats.md.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import orjson

from comfyvn.roleplay.dates import parse_date
from comfyvn.roleplay.readers import Reader, Source
from comfyvn.roleplay.readers.sillytavern import character_from_title
from comfyvn.roleplay.transcript import Message, Transcript, UnreadableLog

ST_ID = "sillytavern.txt"
PLAIN_ID = "transcript.plain"
_SNIFF_BYTES = 65536
_SNIFF_LINES = 400
_LISTED_LINES = 10  # ambiguous lines named in the best-effort notice

_ST_LINE = re.compile(r"(?P<name>[^\s:][^:\n]{0,99}):(?: (?P<text>.*))?")
_PLAIN_LINE = re.compile(r"(?:\[(?P<ts>[^\]\n]{1,64})\]\s*)?(?P<head>[^\s:][^:\n]{0,99}):(?:\s(?P<text>.*))?")
_TIMESTAMP_ONLY = re.compile(r"\[(?P<ts>[^\]\n]{1,64})\]\s*(?P<text>.*)")
_ASIDE = re.compile(r"(?P<name>.+?)\s*\((?P<aside>[^()\n]{1,60})\)")
_BREAK = re.compile(r"\s*(?:-{3,}|\*{3,}|_{3,}|={3,}|\*(?: \*){2,})\s*")
_NOT_IN_NAMES = frozenset(',;!?"*<>|=\t')
_USER_NAMES = frozenset({"user", "you", "player", "{{user}}"})
_NARRATOR_NAMES = frozenset({"system", "narrator", "narration"})


def _name_ok(name: str) -> bool:
    """Whether ``name`` (the part before ``:``) can be a speaker: short, a few words, starts like a name."""
    name = name.strip()
    return (0 < len(name) <= 60 and len(name.split()) <= 5 and (name[0].isalnum() or name[0] in "_{")
            and any(c.isalpha() for c in name) and not _NOT_IN_NAMES.intersection(name)
            and not name.lower().startswith(("http", "www.")))


@dataclass(slots=True)
class _Entry:
    """A message being assembled: its start line and its lines."""

    line: int
    speaker: str
    lines: list[str]
    timestamp_raw: str | None = None
    aside: str | None = None
    scene_break_before: bool = False
    narration: bool = False


def _lines(source: Source, format: str) -> list[str]:
    try:
        text = source.text
    except UnreadableLog as exc:
        raise UnreadableLog(f"{source.name or 'the file'}: {exc}", format=format, line=exc.line) from None
    return [line.removesuffix("\r") for line in text.split("\n")]


def _stem(file_name: str) -> str | None:
    stem = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    return (stem.rsplit(".", 1)[0] if "." in stem else stem).strip() or None


def _finish(transcript: Transcript, entries: list[_Entry], character: str | None, first_is_character: bool) -> None:
    """Entries -> messages, with roles: narrators by name, the user by name or by elimination."""
    speakers = list(dict.fromkeys(e.speaker for e in entries if not e.narration))
    narrators = {s for s in speakers if s.lower() in _NARRATOR_NAMES}
    people = [s for s in speakers if s not in narrators]
    user = next((s for s in people if s.lower() in _USER_NAMES), None)
    if user is None:
        if character is None and first_is_character and people:
            character = people[0]
        others = [s for s in people if s != character]
        if character in people and len(others) == 1:
            user = others[0]
    if user is None and len(people) > 1:
        transcript.problem("could not tell which speaker is the user; every speaker was read as a character",
                           severity="info")
    for entry in entries:
        while entry.lines and not entry.lines[-1].strip():
            entry.lines.pop()
        role = "narrator" if entry.narration or entry.speaker in narrators else \
            "user" if entry.speaker == user else "character"
        iso, raw = parse_date(entry.timestamp_raw) if entry.timestamp_raw is not None else (None, None)
        extra: dict[str, object] = {}
        if entry.aside:
            extra["aside"] = entry.aside
        if entry.scene_break_before:
            extra["scene_break_before"] = True
        transcript.messages.append(Message(
            index=len(transcript.messages), speaker=entry.speaker, text="\n".join(entry.lines), role=role,
            line=entry.line, timestamp=iso, timestamp_raw=raw, extra=extra))
    transcript.user_name = user
    names = [character] if character and character in people else []
    transcript.character_names = list(dict.fromkeys(names + [s for s in people if s != user]))


# ---------------------------------------------------------------- SillyTavern .txt export

def read_sillytavern_txt(source: Source) -> Transcript:
    lines = _lines(source, ST_ID)
    paragraphs: list[tuple[int, list[str], int]] = []  # (first line number, lines, blank lines before)
    blanks, current = 0, None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            blanks, current = blanks + 1, None
            continue
        if current is None:
            current = (number, [], blanks)
            paragraphs.append(current)
            blanks = 0
        current[1].append(line)

    def head(paragraph_lines: list[str]) -> re.Match[str] | None:
        match = _ST_LINE.fullmatch(paragraph_lines[0])
        return match if match and _name_ok(match["name"]) else None

    def status_block(paragraph_lines: list[str]) -> bool:
        return len(paragraph_lines) > 1 and all(
            (m := _ST_LINE.fullmatch(line)) is not None and _name_ok(m["name"]) for line in paragraph_lines)

    known = {m["name"] for _, par, _ in paragraphs if (m := head(par)) and not status_block(par)}
    transcript = Transcript(format=ST_ID, title=_stem(source.name), best_effort=True)
    transcript.problem("SillyTavern text exports have no timestamps, swipes or hidden messages, and a line "
                       "inside a message can look like the start of a new one: read best-effort",
                       severity="info")
    entries: list[_Entry] = []
    for number, par, blanks_before in paragraphs:
        match = head(par)
        if match and (not entries or match["name"] in known or not status_block(par)):
            entries.append(_Entry(number, match["name"], [match["text"] or "", *par[1:]]))
        elif entries:
            entries[-1].lines.extend([""] * blanks_before + par)
        else:
            transcript.problem("text before the first 'Name: text' line kept as narration", line=number)
            entries.append(_Entry(number, "Narrator", list(par), narration=True))
    if not any(not e.narration for e in entries):
        raise UnreadableLog(f"{source.name or 'the file'}: no paragraph starts with a 'Name: text' line; "
                            "not a SillyTavern text export", format=ST_ID)
    _finish(transcript, entries, character_from_title(_stem(source.name)), first_is_character=True)
    return transcript


# ---------------------------------------------------------------- plain transcripts

@dataclass(slots=True)
class _Line:
    kind: str  # "blank", "break", "speaker", "stamped" (timestamp, no name), "text"
    text: str = ""
    name: str | None = None
    aside: str | None = None
    ts: str | None = None


def _classify(line: str) -> _Line:
    if not line.strip():
        return _Line("blank")
    if _BREAK.fullmatch(line):
        return _Line("break")
    match = _PLAIN_LINE.fullmatch(line)
    if match:
        ts = match["ts"]
        if ts is not None and not any(c.isdigit() for c in ts):
            match = None  # "[OOC] ..." is not a timestamp
        else:
            head, aside = match["head"].strip(), None
            if head.endswith(")"):
                split = _ASIDE.fullmatch(head)
                if split:
                    head, aside = split["name"], split["aside"].strip()
            if _name_ok(head):
                return _Line("speaker", match["text"] or "", head, aside, ts)
    stamped = _TIMESTAMP_ONLY.fullmatch(line)
    if stamped and any(c.isdigit() for c in stamped["ts"]):
        return _Line("stamped", stamped["text"], ts=stamped["ts"])
    return _Line("text", line)


def read_plain(source: Source) -> Transcript:
    lines = [_classify(line) for line in _lines(source, PLAIN_ID)]
    layout = _Layout(lines)
    transcript = Transcript(format=PLAIN_ID, title=_stem(source.name))
    entries: list[_Entry] = []
    current: _Entry | None = None
    after_gap, pending_break, blanks, ambiguous = True, False, 0, []
    for position, line in enumerate(lines):
        number, kind = position + 1, line.kind
        if kind == "blank":
            after_gap, blanks = True, blanks + 1
            continue
        if kind == "break":
            after_gap, pending_break, current, blanks = True, True, None, 0
            continue
        if current is None or kind == "stamped":
            starts = True
        elif kind == "speaker":
            starts = layout.starts_message(position, line, after_gap, current)
        else:
            starts = False
        if starts:
            if kind == "speaker":
                current = _Entry(number, line.name, [line.text], line.ts, line.aside)  # type: ignore[arg-type]
            else:
                current = _Entry(number, "Narrator", [line.text], line.ts, narration=True)
                if kind == "text" and not entries:
                    transcript.problem("text before the first 'Name: text' line kept as narration", line=number)
            current.scene_break_before, pending_break = pending_break, False
            entries.append(current)
        else:
            assert current is not None
            if kind == "speaker":
                ambiguous.append(number)
                text = f"{line.name}{f' ({line.aside})' if line.aside else ''}: {line.text}"
            else:
                text = line.text
            current.lines.extend([""] * blanks + [text])
        after_gap, blanks = False, 0
    if not any(not e.narration for e in entries):
        raise UnreadableLog(f"{source.name or 'the file'}: no 'Name: text' line found; not a chat transcript",
                            format=PLAIN_ID)
    if ambiguous:
        listed = ", ".join(map(str, ambiguous[:_LISTED_LINES])) + (", ..." if len(ambiguous) > _LISTED_LINES else "")
        transcript.best_effort = True
        transcript.problem(f"{len(ambiguous)} line(s) looking like 'Name: text' were read as part of the previous "
                           f"message because the name is not a known speaker (lines {listed}); read best-effort",
                           line=ambiguous[0], severity="info")
    unparsed = [e for e in entries if e.timestamp_raw is not None and parse_date(e.timestamp_raw)[0] is None]
    if unparsed:
        transcript.problem(f"{len(unparsed)} timestamp(s) are not a date format ComfyVN knows (first: "
                           f"{unparsed[0].timestamp_raw!r}); kept as written", line=unparsed[0].line,
                           field="timestamp", severity="info")
    _finish(transcript, entries, character_from_title(_stem(source.name)), first_is_character=False)
    return transcript


class _Layout:
    """What the whole transcript says about its speakers, computed before reading it.

    ``dense``: speaker lines mostly follow another line directly (one message per line, no blank
    lines between messages). A *status block* is a paragraph of two or more ``Key: value`` lines in a
    transcript that is not dense (``Mood: calm`` / ``HP: 10`` inside a message). ``known``: names
    that carry a timestamp or open a paragraph that is not a status block, plus, in a dense
    transcript, names that begin two or more lines.
    """

    def __init__(self, lines: list[_Line]) -> None:
        paragraphs: list[list[int]] = []
        previous_content, named, named_after_text = False, 0, 0
        for position, line in enumerate(lines):
            if line.kind in ("blank", "break"):
                previous_content = False
                continue
            if not previous_content:
                paragraphs.append([])
            paragraphs[-1].append(position)
            if line.kind == "speaker":
                named += 1
                named_after_text += previous_content
            previous_content = True
        self.dense = named_after_text * 2 >= named > 0
        self.status_openers: set[int] = set()
        self.known: set[str] = set()
        counts: Counter[str] = Counter()
        for paragraph in paragraphs:
            first = lines[paragraph[0]]
            status = not self.dense and len(paragraph) > 1 and all(
                lines[p].kind == "speaker" and lines[p].ts is None for p in paragraph)
            if status:
                self.status_openers.add(paragraph[0])
            elif first.kind == "speaker":
                self.known.add(first.name)  # type: ignore[arg-type]
            for p in paragraph:
                if lines[p].kind == "speaker":
                    counts[lines[p].name] += 1  # type: ignore[index]
                    if lines[p].ts is not None:
                        self.known.add(lines[p].name)  # type: ignore[arg-type]
        if self.dense:
            self.known.update(name for name, count in counts.items() if count >= 2)

    def starts_message(self, position: int, line: _Line, after_gap: bool, current: _Entry) -> bool:
        if line.ts is not None or line.name in self.known:
            return True
        if after_gap:
            return position not in self.status_openers
        # one message per line: an unknown name right after a one-line message is a new speaker
        return self.dense and len(current.lines) == 1


# ---------------------------------------------------------------- detection

@dataclass(slots=True)
class _Shape:
    named: int = 0  # lines that look like "Name: text"
    named_after_gap: int = 0  # ... at the start or after a blank line
    named_after_text: int = 0  # ... right after another non-blank line
    stamped: int = 0  # ... with a [timestamp]
    stamped_bare: int = 0  # "[timestamp] text" lines without a speaker (DiscordChatExporter TXT has those)
    breaks: int = 0
    content: int = 0  # non-blank, non-break lines
    paragraphs: int = 0
    paragraphs_named: int = 0


def _shape(source: Source) -> _Shape | None:
    head = source.data[:_SNIFF_BYTES]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(source.data) <= _SNIFF_BYTES or exc.start < len(head) - 4:
            return None  # not UTF-8 (a cut multi-byte character at the end of the sample is fine)
        text = head[: exc.start].decode("utf-8")
    lines = text.split("\n")
    if len(source.data) > _SNIFF_BYTES:
        lines = lines[:-1]  # the sample's last line may be cut
    lines = [line.rstrip("\r") for line in lines[:_SNIFF_LINES]]
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith(("{", "[")):
        try:
            orjson.loads(first)
            return None  # a JSON document or JSON lines: not a text transcript
        except orjson.JSONDecodeError:
            pass
    shape, previous = _Shape(), "blank"
    for line in lines:
        kind = _classify(line)
        if kind.kind == "blank":
            previous = "blank"
            continue
        if kind.kind == "break":
            shape.breaks += 1
            previous = "blank"
            continue
        shape.content += 1
        shape.stamped_bare += kind.kind == "stamped"
        if previous == "blank":
            shape.paragraphs += 1
            shape.paragraphs_named += kind.kind == "speaker"
        if kind.kind == "speaker":
            shape.named += 1
            shape.stamped += kind.ts is not None
            if previous == "blank":
                shape.named_after_gap += 1
            else:
                shape.named_after_text += 1
        previous = "text"
    return shape if shape.named else None


def sniff_sillytavern_txt(source: Source) -> float:
    """Blank-line-separated ``Name: text`` paragraphs, no timestamps: up to 0.85."""
    shape = _shape(source)
    if shape is None or shape.stamped or shape.paragraphs_named * 2 < shape.paragraphs:
        return 0.0
    if shape.named_after_text * 5 > shape.named:
        return 0.2  # many speaker lines without a blank line before: not how SillyTavern writes
    score = 0.55
    score += 0.15 if source.suffix == "txt" else 0.0
    score += 0.1 if shape.paragraphs >= 2 else 0.0
    score += 0.05 if source.data.rstrip(b" ").endswith(b"\n\n") else 0.0
    return score - (0.2 if shape.breaks else 0.0)


def sniff_plain(source: Source) -> float:
    """``Name: text`` lines; timestamps, scene breaks and consecutive speaker lines raise the score (<= 0.8).

    0.3 at most when ``[timestamp]`` lines without a speaker outnumber those with one.
    """
    shape = _shape(source)
    if shape is None or shape.named * 10 < shape.content * 3:
        return 0.0
    score = 0.45
    score += 0.1 if source.suffix in ("txt", "log", "md", "text") else 0.0
    score += 0.15 if shape.stamped * 2 >= shape.named else 0.0
    score += 0.1 if shape.breaks else 0.0
    score += 0.15 if shape.named_after_text * 2 >= shape.named else 0.0
    if shape.stamped_bare > shape.stamped:
        return 0.3  # mostly "[timestamp] text" without "Name:": another log format with plain-looking lines
    return min(score, 0.8)


READERS = [
    Reader(ST_ID, "SillyTavern plain-text export (.txt): 'Name: text' paragraphs, best-effort",
           sniff_sillytavern_txt, read_sillytavern_txt),
    Reader(PLAIN_ID, "Plain transcript: 'Name: text' lines, optional [timestamp], scene breaks ---/***",
           sniff_plain, read_plain),
]
