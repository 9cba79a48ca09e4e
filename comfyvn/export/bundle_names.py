"""Portable file names for project bundles: every path segment made safe on Windows, macOS and Linux.

A safe segment is NFC-normalised, 1-255 bytes of UTF-8, holds none of ``<>:"/\\|?*``, no control
character, does not end with a dot or a space and is not a Windows device name (``CON``,
``nul.txt``, ``COM1``...). :func:`plan_paths` maps a set of relative paths to safe ones that also
stay distinct when case is ignored (Windows and macOS file systems), keeping each
``<file>.asset.json`` sidecar named after its file.
"""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from collections.abc import Iterable

from comfyvn.assets.paths import SIDECAR_SUFFIX
from comfyvn.projects.paths import RESERVED

MAX_SEGMENT_BYTES = 255
FORBIDDEN = frozenset('<>:"/\\|?*')
# Windows' device names (any extension): RESERVED plus the rarer ones Windows also refuses
DEVICE_NAMES = RESERVED | {"com0", "lpt0", "conin$", "conout$", "clock$",
                           *(f"{p}{d}" for p in ("com", "lpt") for d in "\u00b9\u00b2\u00b3")}
MAX_EXT_CHARS = 16
Tree = dict[str, "Tree | None"]  # a folder: name -> sub-folder, or None for a file


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _short_hash(text: str) -> str:
    return hashlib.sha256(_utf8(text)).hexdigest()[:8]


def _bad_char(char: str) -> bool:
    code = ord(char)
    return char in FORBIDDEN or code < 32 or code == 127 or 0xD800 <= code <= 0xDFFF


def _device_name(segment: str) -> bool:
    return segment.split(".", 1)[0].rstrip(" ").lower() in DEVICE_NAMES


def problems(segment: str) -> list[str]:
    """Why ``segment`` is not a portable file name (empty when it is)."""
    if segment in ("", ".", ".."):
        return ["an empty or relative name"]
    found = []
    if any(_bad_char(c) for c in segment):
        found.append('a character some systems refuse (<>:"/\\|?*, control characters)')
    elif unicodedata.normalize("NFC", segment) != segment:
        found.append("not NFC-normalised")
    if segment[-1] in " .":
        found.append("ends with a dot or a space")
    if _device_name(segment):
        found.append("a Windows device name")
    if len(_utf8(segment)) > MAX_SEGMENT_BYTES:
        found.append(f"longer than {MAX_SEGMENT_BYTES} bytes")
    return found


def split_ext(name: str) -> tuple[str, str]:
    """``("photo", ".png")``; no extension when the name starts with its only dot or it is long."""
    cut = name.rfind(".")
    if cut <= 0 or not 1 <= len(name) - cut - 1 <= MAX_EXT_CHARS:
        return name, ""
    return name[:cut], name[cut:]


def _fit(name: str, tag: str, limit: int) -> str:
    """``name`` with ``tag`` before its extension, the stem cut so it fits ``limit`` bytes."""
    stem, ext = split_ext(name)
    budget = limit - len(_utf8(tag + ext))
    if budget < 1:
        stem, ext, budget = name, "", limit - len(_utf8(tag))
    while True:  # normalising the cut rarely changes its length: cut again until it fits
        cut = _utf8(stem)[:budget].decode("utf-8", "ignore")
        result = unicodedata.normalize("NFC", (cut or "_") + tag + ext)
        if len(_utf8(result)) <= limit or budget <= 1:
            return result
        budget -= 1


def safe_segment(name: str, limit: int = MAX_SEGMENT_BYTES) -> str:
    """A portable form of one file or folder name; a safe name comes back unchanged. A name
    shortened to ``limit`` bytes keeps its extension and gains ``~<hash>`` so it stays unique."""
    text = unicodedata.normalize("NFC", "".join("_" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name))
    text = "".join("_" if _bad_char(c) else c for c in text).rstrip(" .") or "_"
    if _device_name(text):
        head, dot, rest = text.partition(".")
        text = f"{head}_{dot}{rest}"
    if len(_utf8(text)) > limit:
        text = _fit(text, "~" + _short_hash(name), limit)
    return text


def fold(name: str) -> str:
    """The form two names share when a case-insensitive, normalising file system sees them as one."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def _priority(name: str) -> tuple[bool, bool, str]:
    """Who keeps a contested name: names needing no change, then lower-case ones, then by code point."""
    return safe_segment(name) != name, name != name.lower(), name


def _unique(name: str, taken: set[str], sidecar: bool) -> str:
    limit = MAX_SEGMENT_BYTES - (len(SIDECAR_SUFFIX) if sidecar else 0)

    def free(candidate: str) -> bool:
        return fold(candidate) not in taken and not (sidecar and fold(candidate + SIDECAR_SUFFIX) in taken)

    first = safe_segment(name, limit)
    if free(first):
        return first
    tag = "~" + _short_hash(name)
    for n in itertools.count(1):
        candidate = _fit(first, tag if n == 1 else f"{tag}-{n}", limit)
        if free(candidate):
            return candidate
    raise AssertionError("unreachable")


def _plan_folder(tree: Tree, old: str, new: str, taken: set[str], out: dict[str, str]) -> None:
    files = {name for name, child in tree.items() if child is None}
    attached = {name for name in files if name.endswith(SIDECAR_SUFFIX)
                and name[:-len(SIDECAR_SUFFIX)] in files and not name[:-len(SIDECAR_SUFFIX)].endswith(SIDECAR_SUFFIX)}
    for name in sorted((n for n in tree if n not in attached), key=_priority):
        sidecar = name + SIDECAR_SUFFIX in attached
        safe = _unique(name, taken, sidecar)
        taken.add(fold(safe))
        child = tree[name]
        if child is not None:
            _plan_folder(child, f"{old}{name}/", f"{new}{safe}/", set(), out)
            continue
        out[old + name] = new + safe
        if sidecar:
            taken.add(fold(safe + SIDECAR_SUFFIX))
            out[old + name + SIDECAR_SUFFIX] = new + safe + SIDECAR_SUFFIX


def plan_paths(paths: Iterable[str], *, reserved: Iterable[str] = ()) -> dict[str, str]:
    """Map relative POSIX paths of files to safe, case-insensitively unique ones. Folders map
    consistently; ``reserved`` names are kept free at the top level. Deterministic: the same set
    of paths gives the same answer whatever their order."""
    tree: Tree = {}
    for path in paths:
        *folders, leaf = path.split("/")
        node = tree
        for folder in folders:
            child = node.setdefault(folder, {})
            if child is None:
                raise ValueError(f"{path!r} lies under {folder!r}, which is a file")
            node = child
        node[leaf] = None
    out: dict[str, str] = {}
    _plan_folder(tree, "", "", {fold(name) for name in reserved}, out)
    return out


def reasons(old: str, new: str) -> list[str]:
    """Why the path ``old`` was bundled as ``new``, segment by segment."""
    found = []
    for a, b in zip(old.split("/"), new.split("/")):
        if a != b:
            why = problems(a) or ["another name is the same when case is ignored"]
            found.append(f"{a!r}: {'; '.join(why)}")
    return found
