"""SillyTavern (and friends) files that are not chats: character cards, World Info lorebooks and
personas, read into the project's canonical models.

- ``cards.read_card`` - PNG (``chara``/``ccv3``), JSON V1/V2/V3, CHARX zip, oobabooga YAML/JSON
  -> ``Character`` (+ the card's lorebook as a ``World``, greetings, assets).
- ``worlds.read_world`` / ``worlds.world_from_card_book`` - World Info files and card lorebooks -> ``World``.
- ``personas.read_personas`` - settings.json fragments and ``personas_*.json`` backups -> ``Persona`` list.

Like the chat readers, these never raise for one bad field or entry: they record a ``Problem`` and
go on, and raise ``UnreadableLog`` only when the input cannot be that kind of file at all.

This module holds what all three share: ``slug_id`` and ``Fields``, a forgiving field reader for
the quirks real files have (numbers as strings, null where text is expected, missing keys).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import orjson

from comfyvn.roleplay.transcript import Problem, UnreadableLog

_NOT_ID = re.compile(r"[^a-z0-9_.-]+")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")
_INT64 = 2**63 - 1
MAX_DEPTH = 100  # deepest nesting accepted in a card, lorebook or settings file
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def slug_id(name: str, fallback: str = "character") -> str:
    """A project id (``comfyvn.projects.paths.ID_RE``) derived from a display name.

    Lowercase ASCII (accents folded: "Amélie" -> "amelie"); every run of other characters becomes
    one '-'; no '..', no leading or trailing '-'/'.'; at most 128 characters; ``fallback`` when
    nothing is left (e.g. a name written only in CJK characters).
    """
    folded = unicodedata.normalize("NFKD", name if isinstance(name, str) else "")
    ascii_name = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = _DOTS.sub(".", _DASHES.sub("-", _NOT_ID.sub("-", ascii_name)))
    slug = slug[:128].strip("-.")
    return slug or fallback


def load_json(data: bytes | str, *, format: str, what: str) -> Any:
    """``data`` parsed as JSON (BOM tolerated); UnreadableLog saying where it breaks otherwise."""
    if isinstance(data, bytes):
        data = data.removeprefix(b"\xef\xbb\xbf")
    else:
        data = data.removeprefix("\ufeff")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnreadableLog(f"{what}: not valid JSON ({exc})", format=format, line=exc.lineno) from None
    check_depth(value, format=format, what=what)
    return value


def check_depth(value: Any, *, format: str, what: str) -> None:
    """UnreadableLog when ``value`` nests deeper than MAX_DEPTH: no card, lorebook or settings file
    does, and the raw data is kept in the records, which must stay writable (the stdlib JSON
    writer gives up near 1000 levels). Iterative, so the check itself cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnreadableLog(f"{what}: nested more than {MAX_DEPTH} levels deep", format=format)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))


def json_safe(value: Any, *, format: str, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A JSON-safe copy of YAML data: string keys, no NaN/inf, dates as ISO text, sets as lists,
    binary dropped; UnreadableLog when it is nested deeper than MAX_DEPTH or holds over 100,000
    values (YAML aliases can make a small file describe an exponentially large tree)."""
    budget = [100_000] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise UnreadableLog("the document is nested too deeply or expands to too many values", format=format)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value <= _INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {str(json_safe(k, format=format, depth=depth + 1, budget=budget)):
                json_safe(v, format=format, depth=depth + 1, budget=budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v, format=format, depth=depth + 1, budget=budget) for v in items]
    if isinstance(value, (bytes, bytearray)):
        return None  # YAML !!binary: nothing a character file needs
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


class Fields:
    """Read fields of one raw JSON object forgivingly, recording a Problem for each repair.

    Each reader takes alternative key names (the first one present wins), so both namings of a
    format (``keys``/``key``, ``insertion_order``/``order``) go through the same call. ``where`` is
    the object's path in the file ("data", "entries.3") and prefixes the problem's field.
    """

    def __init__(self, raw: Any, problems: list[Problem], where: str = "") -> None:
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.problems = problems
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def note(self, key: str, message: str, severity: str = "warning") -> None:
        self.problems.append(Problem(message, field=self.path(key), severity=severity))  # type: ignore[arg-type]

    def get(self, *keys: str) -> tuple[str, Any]:
        """(key, value) of the first key present, or (first key, None)."""
        for key in keys:
            if key in self.raw:
                return key, self.raw[key]
        return keys[0], None

    def has(self, *keys: str) -> bool:
        return any(key in self.raw for key in keys)

    def text(self, *keys: str, default: str = "") -> str:
        key, value = self.get(*keys)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, int, float)):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            self.note(key, "a list where text was expected: joined with new lines")
            return "\n".join(value)
        self.note(key, f"{type(value).__name__} where text was expected: ignored")
        return default

    def strings(self, *keys: str, split: bool = False) -> list[str]:
        """A list of non-empty strings; numbers become text; with ``split``, a single string is
        read as a comma-separated list ("a, b")."""
        key, value = self.get(*keys)
        if value is None:
            return []
        if isinstance(value, str):
            items: list[Any] = value.split(",") if split else [value]
        elif isinstance(value, list):
            items = value
        else:
            self.note(key, f"{type(value).__name__} where a list of text was expected: ignored")
            return []
        out: list[str] = []
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str):
                self.note(key, f"{type(item).__name__} in a list of text: skipped")
                continue
            item = item.strip() if split else item
            if item.strip():
                out.append(item)
        return out

    def boolean(self, *keys: str, default: bool) -> bool:
        key, value = self.get(*keys)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self.note(key, f"{value!r:.40} is not true/false: using {str(default).lower()}")
        return default

    def number(self, *keys: str, default: float | None = None, integer: bool = False) -> Any:
        """An int (``integer``) or a float; digit strings ("0.5", " 100 ") are accepted."""
        key, value = self.get(*keys)
        if value is None:
            return default
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or abs(number) > _INT64:
            self.note(key, f"{value!r:.40} is not a number: using {default}")
            return default
        if integer:
            return int(number)
        return int(number) if isinstance(number, int) else float(number)

    def integer(self, *keys: str, default: int | None = None) -> int | None:
        return self.number(*keys, default=default, integer=True)

    def rest(self, known: set[str]) -> dict[str, Any]:
        """The raw fields not in ``known`` (already JSON-safe when the input was JSON)."""
        return {k: v for k, v in self.raw.items() if k not in known}
