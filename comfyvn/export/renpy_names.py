"""Names and text for generated Ren'Py code: identifiers, unique labels, escaped strings."""

from __future__ import annotations

import re
from functools import lru_cache

IDENT = re.compile(r"[^A-Za-z0-9_]+")
KEYWORDS = frozenset({
    # Python keywords and Ren'Py statement words a name must not be
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
    "raise", "return", "try", "while", "with", "yield", "None", "True", "False",
    "at", "behind", "call", "camera", "default", "define", "expression", "hide", "image", "init", "jump", "label",
    "layeredimage", "menu", "music", "onlayer", "play", "python", "queue", "scene", "screen", "show", "sound",
    "stop", "style", "testcase", "transform", "translate", "voice", "window", "zorder", "extend", "nvl",
})


@lru_cache(maxsize=1 << 16)  # called for every label, sprite and line id: the same few thousand names
def ident(text: str, fallback: str = "x") -> str:
    """A Python/Ren'Py identifier made from ``text`` (lower-case, ``_`` for anything else)."""
    name = IDENT.sub("_", text.strip().lower()).strip("_") or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in KEYWORDS:
        name += "_"
    return name


class Namer:
    """Unique identifiers within one namespace: the same key always gets the same name."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self._names: dict[object, str] = {}
        self._taken = set(taken or ())

    def __call__(self, key: object, wanted: str) -> str:
        if key in self._names:
            return self._names[key]
        name, number = wanted, 1
        while name in self._taken:
            number += 1
            name = f"{wanted}_{number}"
        self._taken.add(name)
        self._names[key] = name
        return name


def say_text(text: str) -> str:
    """A Ren'Py string literal for dialogue: ``\\`` and ``"`` escaped; ``[``, ``{`` and ``%`` doubled
    so nothing is read as interpolation, a text tag or an old-style ``%`` substitution (Ren'Py's lint
    reports a lone ``%``); newlines kept as ``\\n``."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "[[").replace("{", "{{").replace("%", "%%")
               .replace("\n", "\\n").replace("\r", "").replace("\t", " "))
    return f'"{escaped}"'


def python_string(text: str) -> str:
    """A plain Python string literal (inside ``$`` lines and ``define``s: no Ren'Py text rules)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "") + '"'


def character_name(text: str) -> str:
    """A ``Character()`` name: a Python string shown as Ren'Py text, so ``[`` and ``{`` are doubled
    (``%`` is not special in names)."""
    return python_string(text.replace("[", "[[").replace("{", "{{"))
