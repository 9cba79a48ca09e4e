"""World Info files and card lorebooks -> ``World`` with ``LoreEntry`` records.

Two field namings describe the same thing:

| meaning          | World Info file (``worlds/<name>.json``) | card lorebook (``character_book``) |
| ---------------- | ---------------------------------------- | ---------------------------------- |
| trigger words    | ``key``                                  | ``keys``                           |
| secondary words  | ``keysecondary``                         | ``secondary_keys``                 |
| switched off     | ``disable: true``                        | ``enabled: false``                 |
| order            | ``order``                                | ``insertion_order``                |
| id               | ``uid`` (also the key of ``entries``)    | ``id``                             |

Both go through one entry reader: ``keys``, ``content`` and ``enabled`` become the LoreEntry fields;
the rest is kept in the entry's ``metadata`` under one set of names (``uid``, ``secondary_keys``,
``order``, ``position``, ``constant``, ``selective``, ``comment``, ...), fields this module does not
know under ``metadata.extra`` and a card entry's ``extensions`` under ``metadata.extensions``.
Regex keys (``/tess(a)?/i``) stay plain strings. Entries are sorted by order, then uid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from comfyvn.projects.models import LoreEntry, World
from comfyvn.roleplay.transcript import Problem, UnreadableLog
from comfyvn.sillytavern import Fields, load_json, slug_id

FORMAT = "worldinfo"
_DIGITS = re.compile(r"-?[0-9]{1,18}")

# (metadata name, raw names in priority order, kind); kind: bool/int/num/text/keys/any
_FIELDS: list[tuple[str, tuple[str, ...], str]] = [
    ("secondary_keys", ("keysecondary", "secondary_keys"), "keys"),
    ("order", ("order", "insertion_order"), "int"),
    ("position", ("position",), "any"),
    ("constant", ("constant",), "bool"),
    ("selective", ("selective",), "bool"),
    ("selective_logic", ("selectiveLogic",), "int"),
    ("comment", ("comment",), "text"),
    ("name", ("name", "displayName"), "text"),
    ("priority", ("priority",), "int"),
    ("probability", ("probability",), "num"),
    ("use_probability", ("useProbability",), "bool"),
    ("depth", ("depth",), "int"),
    ("role", ("role",), "any"),
    ("group", ("group",), "text"),
    ("case_sensitive", ("caseSensitive", "case_sensitive"), "bool"),
    ("match_whole_words", ("matchWholeWords",), "bool"),
    ("use_regex", ("use_regex",), "bool"),
    ("exclude_recursion", ("excludeRecursion",), "bool"),
    ("prevent_recursion", ("preventRecursion",), "bool"),
    ("scan_depth", ("scanDepth",), "int"),
    ("sticky", ("sticky",), "int"),
    ("cooldown", ("cooldown",), "int"),
    ("delay", ("delay",), "int"),
]
_USED = {"uid", "id", "key", "keys", "keywords", "content", "entry", "text", "enabled", "disable", "extensions",
         *(raw for _, names, _ in _FIELDS for raw in names)}
_BOOK_FIELDS = ("scan_depth", "token_budget", "recursive_scanning")


@dataclass(slots=True)
class WorldImport:
    world: World
    problems: list[Problem] = field(default_factory=list)


def read_world(data: bytes, name: str) -> WorldImport:
    """A World Info file (``{"entries": {"<uid>": {...}}}``; a list of entries and card-book
    naming are accepted too). The world is named after the file (``name`` without ``.json``)."""
    where = name or "the file"
    raw = load_json(data, format=FORMAT, what=f"{where}: not a World Info file")
    if not isinstance(raw, dict) or "entries" not in raw:
        raise UnreadableLog(f"{where}: not a World Info file: expected a JSON object with 'entries'",
                            format=FORMAT, field="entries")
    entries = raw["entries"]
    if not isinstance(entries, (dict, list)):
        raise UnreadableLog(f"{where}: 'entries' must be an object keyed by uid (or a list), "
                            f"not {type(entries).__name__}", format=FORMAT, field="entries")
    problems: list[Problem] = []
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = (stem[:-5] if stem.lower().endswith(".json") else stem).strip()
    title = Fields(raw, problems).text("name") or stem or "World"
    meta: dict[str, Any] = {"format": "worldinfo", "source_file": name}
    extra = {k: v for k, v in raw.items() if k not in {"entries", "name", "description", "originalData"}}
    if extra:
        meta["extra"] = extra
    world = _build(title, Fields(raw, problems).text("description"), entries, meta, problems)
    return WorldImport(world, problems)


def world_from_card_book(book: dict[str, Any], name: str, problems: list[Problem] | None = None) -> World:
    """A card's ``character_book`` as a World; ``name`` is used when the book has none.
    Problems with single entries are appended to ``problems`` when given."""
    problems = [] if problems is None else problems
    fields = Fields(book, problems, "character_book")
    title = fields.text("name").strip() or name
    meta: dict[str, Any] = {"format": "card_book"}
    for key in _BOOK_FIELDS:
        if key in fields.raw:
            meta[key] = fields.raw[key]
    if isinstance(fields.raw.get("extensions"), dict) and fields.raw["extensions"]:
        meta["extensions"] = fields.raw["extensions"]
    entries = fields.raw.get("entries")
    if not isinstance(entries, (dict, list)):
        if entries is not None:
            fields.note("entries", f"{type(entries).__name__} where a list of entries was expected: ignored")
        entries = []
    return _build(title, fields.text("description"), entries, meta, problems, "character_book.entries")


def _build(title: str, description: str, entries: dict[str, Any] | list[Any], meta: dict[str, Any],
           problems: list[Problem], where: str = "entries") -> World:
    items = entries.items() if isinstance(entries, dict) else enumerate(entries)
    read: list[tuple[tuple[Any, ...], LoreEntry]] = []
    for position, (key, raw) in enumerate(items):
        path = f"{where}.{key}"
        if not isinstance(raw, dict):
            problems.append(Problem(f"entry {key} is {type(raw).__name__}, not an object: skipped", field=path))
            continue
        entry = _entry(raw, key, Fields(raw, problems, path))
        read.append((_sort_key(entry.metadata.get("order"), entry.metadata.get("uid"), position), entry))
    read.sort(key=lambda pair: pair[0])
    title = title.strip()[:200] or "World"
    try:
        return World(id=slug_id(title, "world"), name=title, description=description,
                     entries=[entry for _, entry in read], metadata=meta)
    except ValidationError as exc:  # every field is coerced above; this is a bug guard with a clear message
        raise UnreadableLog(f"lorebook {title!r} does not fit the World model: {exc.errors()[0]['msg']}",
                            format=FORMAT) from None


def _entry(raw: dict[str, Any], key: Any, fields: Fields) -> LoreEntry:
    keys = fields.strings("keys", "key", "keywords")
    content = fields.text("content", "entry", "text")
    enabled = fields.boolean("enabled", default=True) and not fields.boolean("disable", default=False)
    meta: dict[str, Any] = {}
    uid = raw.get("uid", raw.get("id", key))
    if not isinstance(uid, (int, str)) or isinstance(uid, bool):
        uid = key
    meta["uid"] = int(uid) if isinstance(uid, str) and _DIGITS.fullmatch(uid) else uid
    for name, raw_names, kind in _FIELDS:
        if not fields.has(*raw_names):
            continue
        if kind == "bool":
            value: Any = fields.boolean(*raw_names, default=False) if fields.get(*raw_names)[1] is not None else None
        elif kind == "int":
            value = fields.integer(*raw_names)
        elif kind == "num":
            value = fields.number(*raw_names)
        elif kind == "text":
            value = fields.text(*raw_names)
        elif kind == "keys":
            value = fields.strings(*raw_names)
        else:
            value = fields.get(*raw_names)[1]
            value = value if value is None or isinstance(value, (str, int, float)) else str(value)
        meta[name] = value
    extensions = raw.get("extensions")
    if isinstance(extensions, dict) and extensions:
        meta["extensions"] = extensions
    extra = fields.rest(_USED)
    if extra:
        meta["extra"] = extra
    return LoreEntry(keys=keys, content=content, enabled=enabled, metadata=meta)


def _sort_key(order: Any, uid: Any, position: int) -> tuple[Any, ...]:
    """Order (missing last), then uid (numbers numerically, before text), then file position."""
    order_key = (0, order) if isinstance(order, int) else (1, 0)
    if isinstance(uid, int):
        uid_key: tuple[Any, ...] = (0, uid, "")
    elif isinstance(uid, str) and _DIGITS.fullmatch(uid.strip()):
        uid_key = (0, int(uid), "")
    else:
        uid_key = (1, 0, str(uid))
    return order_key, uid_key, position
