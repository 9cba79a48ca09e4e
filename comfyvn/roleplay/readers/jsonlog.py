"""Helpers shared by the JSON-based chat readers (``others.py``, ``discord.py``).

``load_json`` turns a file into one JSON document or an ``UnreadableLog`` naming the line;
``JsonLines`` finds the source line of the values a reader reports on; ``Problems`` lists what was
skipped (capped); ``take_text`` / ``name_of`` / ``stamp`` read fields of any JSON type without
raising; ``name_from_file`` finds a character name in a log's file name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import orjson

from comfyvn.roleplay.dates import parse_date
from comfyvn.roleplay.readers import Source
from comfyvn.roleplay.transcript import Transcript, UnreadableLog

USER, CHARACTER = "User", "Character"  # speakers when the file does not name them
MISSING = object()
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[{}\[\],]')  # a string or a structural character
_TO_BRACKET = re.compile(r'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+[\[\]{}]')  # up to the next bracket
_VALUE = re.compile(r"\S")


def load_json(source: Source, fmt: str) -> Any:
    """The file as one JSON document; UnreadableLog naming the line when it is not one."""
    if source.is_json:
        return source.json()
    try:
        text = source.text
    except UnreadableLog as exc:
        raise UnreadableLog(f"{exc}, not a {fmt} file", format=fmt, line=exc.line) from None
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        why = "nested deeper than 1024 levels" if "depth" in exc.msg else exc.msg
        raise UnreadableLog(f"not valid JSON: {why} (line {exc.lineno}, column {exc.colno})",
                            format=fmt, line=exc.lineno) from None
    raise UnreadableLog("not valid JSON", format=fmt)  # pragma: no cover - Source parsed it differently


def kind(value: Any) -> str:
    """How a JSON value reads in a problem message."""
    if value is MISSING:
        return "missing"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true/false"
    return {str: "a string", int: "a number", float: "a number", list: "a list"}.get(type(value), "an object")


def show(value: Any) -> str:
    """A field's value for a problem message: short strings quoted (cut at 40 characters), else its kind."""
    if isinstance(value, str):
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    return kind(value)


class JsonLines:
    """The 1-based line on which each JSON value at the given paths starts (``"*"`` = any index).

    Object members are found at their key. One pass over the text: strings are skipped by one regex
    match each and values nested deeper than any path by one match per bracket; a file on a single
    line answers 1 for every path without scanning. Only for text that parsed as JSON.
    """

    def __init__(self, text: str, *patterns: tuple[str, ...]) -> None:
        self._single = "\n" not in text.strip()
        self._lines: dict[tuple[Any, ...], int] = {} if self._single else _scan(text, patterns)

    def __call__(self, *path: Any) -> int | None:
        return 1 if self._single else self._lines.get(path)


def _scan(text: str, patterns: tuple[tuple[str, ...], ...]) -> dict[tuple[Any, ...], int]:
    by_depth: dict[int, list[tuple[str, ...]]] = {}
    for pattern in patterns:
        by_depth.setdefault(len(pattern), []).append(pattern)
    deepest = max(by_depth, default=0)
    found: dict[tuple[Any, ...], int] = {}
    path: list[Any] = []
    in_object: list[bool] = []
    expect_key, line, last, pos = False, 1, 0, 0

    def wanted() -> bool:
        return any(all(want == got or (want == "*" and isinstance(got, int)) for want, got in zip(pattern, path))
                   for pattern in by_depth.get(len(path), ()))

    while (match := _TOKEN.search(text, pos)) is not None:
        at, pos = match.start(), match.end()
        char = text[at]
        if char == '"':
            if expect_key:
                path[-1], expect_key = match.group()[1:-1], False
                if wanted():
                    line, last = line + text.count("\n", last, at), at
                    found[tuple(path)] = line
            continue
        if char in "}]":
            in_object.pop()
            path.pop()
            expect_key = False
            continue
        if char == "," and in_object[-1]:
            expect_key = True
            continue
        if char == ",":
            path[-1] += 1
        elif len(path) >= deepest:  # an object or array whose items no path reaches: skip it whole
            pos = _skip(text, pos)
            continue
        else:
            in_object.append(char == "{")
            path.append(None if char == "{" else 0)
            expect_key = char == "{"
            if expect_key:
                continue
        # an array item may start here (after "[" or ",")
        if wanted() and (value := _VALUE.search(text, pos)) is not None and text[value.start()] != "]":
            line, last = line + text.count("\n", last, value.start()), value.start()
            found[tuple(path)] = line
    return found


def _skip(text: str, pos: int) -> int:
    """The position after the bracket closing the object or array opened just before ``pos``."""
    depth = 0
    while (match := _TO_BRACKET.match(text, pos)) is not None:
        pos = match.end()
        if text[pos - 1] in "[{":
            depth += 1
        elif depth == 0:
            return pos
        else:
            depth -= 1
    return len(text)


class Problems:
    """Adds problems to a transcript, listing at most ``MAX_LISTED_PROBLEMS`` (the rest are counted)."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript

    def __call__(self, message: str, line: int | None = None, field: str | None = None,
                 severity: str = "warning") -> None:
        self.transcript.problem(message, line, field, severity)  # type: ignore[arg-type]

    def finish(self) -> Transcript:
        """Close the list and fill ``user_name`` / ``character_names`` from the messages."""
        t = self.transcript
        t.close_problems()
        for message in t.story_messages():
            if message.role == "user" and t.user_name is None:
                t.user_name = message.speaker
            elif message.role == "character" and message.speaker not in t.character_names:
                t.character_names.append(message.speaker)
        return t


def take_text(problem: Problems, value: Any, *, line: int | None, field: str) -> str | None:
    """``value`` as message text: strings as they are, numbers repaired with a warning, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problem(f"{field} is a number; read as text", line, field)
        return str(value)
    problem(f"{field} is {kind(value)}, expected text; message skipped", line, field)
    return None


def name_of(*values: Any) -> str | None:
    """The first value that is a usable (non-blank) name."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def stamp(value: Any) -> tuple[str | None, str | None]:
    """``(iso, raw)`` for a date field; other types than strings and numbers count as no date."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None, None
    return parse_date(value)


_FILE_SUFFIX = re.compile(r"(?i)[ _-]*(persistent|chat|chat[ _-]?history|history|log|export(ed)?)$")
_FILE_DATE = re.compile(r"[ _@-]*(\d{4}-\d{1,2}-\d{1,2}\S*|\d{8}[-_]?\d{2}-?\d{2}-?\d{2}|\d{10,})$")
_NOT_A_NAME = re.compile(r"(?i)(chats?|history|logs?|exported|export|untitled|conversation|backup)[ _-]*[0-9a-f-]*")


def name_from_file(name: str) -> str | None:
    """The character name a log's file name carries, if it seems to carry one.

    ``Chiharu Yamada_persistent.json`` / ``Chiharu Yamada_20230415-101010.json`` (oobabooga),
    ``Calla_2024-06-17T083021281Z_chat.json`` (RisuAI), ``logs/chat/Chiharu/20240101-10-00-00.json``
    (newer oobabooga: the folder). Time stamps, ids and words like "chat" or "export" are not names;
    a bare file name counts only when it starts with a capital letter ("Mira.json", not "notes.json").
    """
    parts = [part for part in re.split(r"[\\/]", name) if part]
    if not parts:
        return None
    candidates = [parts[-1].rsplit(".", 1)[0]]
    if len(parts) >= 3 and parts[-3].lower() == "chat":
        candidates.append(parts[-2])
    for number, stem in enumerate(candidates):
        if len(stem) > 200:  # no name is that long (and the patterns below stay cheap)
            continue
        stem = re.sub(r"\s*\(\d+\)$", "", stem).strip(" _-")
        bare = _FILE_DATE.sub("", _FILE_SUFFIX.sub("", stem)).strip(" _-")
        marked = bare != stem or number > 0  # a known suffix or date was removed, or the oobabooga folder
        if bare and len(bare) <= 64 and re.search(r"[^\W\d_]", bare) and not _NOT_A_NAME.fullmatch(bare) \
                and (marked or bare[0].isupper()):
            return bare
    return None


def sniffer(check: Callable[[Source], float]) -> Callable[[Source], float]:
    """A sniff that answers 0 for input it cannot even decode (it never raises UnreadableLog)."""
    @functools.wraps(check)
    def sniff(source: Source) -> float:
        try:
            return check(source)
        except UnreadableLog:
            return 0.0
    return sniff


def json_object(source: Source, fmt: str, what: str) -> dict[str, Any]:
    data = load_json(source, fmt)
    if not isinstance(data, dict):
        raise UnreadableLog(f"the file is {kind(data)}, expected an object with {what}", format=fmt, line=1)
    return data
