"""Chat log readers and format detection.

Each reader module exposes ``READERS``: a list of ``Reader`` (id, description, ``sniff``, ``read``).
``detect`` asks every reader how sure it is that a file is theirs (0..1, from the file name and
content) and takes the surest; ``read(source, format=...)`` forces one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from comfyvn.roleplay.transcript import Transcript, UnreadableLog

_MODULES = ("sillytavern", "text", "others", "discord")  # comfyvn.roleplay.readers.<name>
_NOT_JSON = object()


class Source:
    """The bytes of one uploaded file with cached views (text without BOM, parsed JSON)."""

    def __init__(self, data: bytes, name: str = "") -> None:
        self.data = data
        self.name = name

    @property
    def suffix(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""

    @cached_property
    def text(self) -> str:
        """The content as text: UTF-8 (BOM removed); UnreadableLog when it is not text."""
        data = self.data[3:] if self.data.startswith(b"\xef\xbb\xbf") else self.data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise UnreadableLog(f"not UTF-8 text (byte {exc.start}, line {line})", line=line) from None
        if "\x00" in text:
            raise UnreadableLog("binary data (NUL bytes), not a text log")
        return text

    @cached_property
    def _json(self) -> Any:
        try:
            return orjson.loads(self.text)
        except (orjson.JSONDecodeError, UnreadableLog):
            return _NOT_JSON

    def json(self) -> Any:
        """The whole file parsed as one JSON document, or None when it is not one."""
        value = self._json
        return None if value is _NOT_JSON else value

    @property
    def is_json(self) -> bool:
        return self._json is not _NOT_JSON


@dataclass(frozen=True)
class Reader:
    id: str
    description: str
    sniff: Callable[[Source], float]  # 0 = not mine ... 1 = certainly mine
    read: Callable[[Source], Transcript]


def readers() -> dict[str, Reader]:
    found: dict[str, Reader] = {}
    for name in _MODULES:
        module = importlib.import_module(f"comfyvn.roleplay.readers.{name}")
        for reader in module.READERS:
            found[reader.id] = reader
    return found


def detect(source: Source) -> Reader:
    """The reader surest the file is theirs; UnreadableLog naming what was tried otherwise."""
    best, best_score = None, 0.0
    for reader in readers().values():
        try:
            score = reader.sniff(source)
        except UnreadableLog:
            score = 0.0
        if score > best_score:
            best, best_score = reader, score
    if best is None:
        _explain(source)
        known = ", ".join(sorted(readers()))
        raise UnreadableLog(f"not a chat log format ComfyVN reads (tried: {known})")
    return best


def _explain(source: Source) -> None:
    """When nothing recognises a file, say what is wrong with it as precisely as possible: not text,
    broken JSON (line and column), or what the reader its extension suggests found."""
    text = source.text  # raises with the byte and line when it is not UTF-8 text
    if not text.strip():
        raise UnreadableLog("the file is empty")
    if source.suffix == "jsonl":
        readers()["sillytavern.jsonl"].read(source)  # raises with the first bad line and field
    if source.suffix == "json" or text.lstrip()[:1] in ("{", "["):
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise UnreadableLog(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                line=exc.lineno) from None


def read(source: Source, format: str | None = None) -> Transcript:
    """Read ``source`` with the forced ``format`` or the detected one."""
    if format:
        reader = readers().get(format)
        if reader is None:
            raise UnreadableLog(f"unknown format {format!r}; known formats: {', '.join(sorted(readers()))}",
                                format=format)
    else:
        reader = detect(source)
    transcript = reader.read(source)
    if not transcript.messages:
        raise UnreadableLog(f"no messages found (read as {reader.id})", format=reader.id)
    return transcript
