"""The LoRA registry: ``<data dir>/lora/lora_index.json``.

Each entry: ``{name, path, sha256, bytes, base_model, trigger_words, tags, source, registered_at}``.
``name`` is the file name ComfyUI knows the LoRA by (``detail_tweaker.safetensors``, or
``sdxl/detail_tweaker.safetensors`` in a subfolder); ``path`` is the local file it was registered
from (``null`` for a LoRA that lives only on a ComfyUI server, registered by name and sha256).
The index is a ``JsonDocument``: one cross-process lock, atomic writes.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import JsonDocument

VERSION = 1
SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .()+-]*(/[A-Za-z0-9_][A-Za-z0-9_ .()+-]*)*$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024
MAX_WORDS = 64


def index_path() -> Path:
    return runtime_paths.data_dir() / "lora" / "lora_index.json"


def _doc() -> JsonDocument:
    return JsonDocument(index_path())


def check_name(name: Any) -> str:
    """``name`` when it is a usable LoRA name: a relative file name (subfolders with '/') ending in
    one of ``SUFFIXES``, without '..', backslashes or control characters; else 422."""
    if (not isinstance(name, str) or len(name) > 255 or not NAME_RE.match(name) or ".." in name
            or not name.lower().endswith(SUFFIXES)):
        raise InvalidInput(f"invalid LoRA name {name!r}: use the file name ComfyUI shows (letters, digits, ' ', "
                           f"'_', '.', '-', '(', ')', '+', subfolders with '/'), ending in {', '.join(SUFFIXES)}",
                           code="invalid_lora_name", details={"name": name})
    return name


def check_sha(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not SHA_RE.match(text):
        raise InvalidInput(f"invalid sha256 {value!r}: give 64 hexadecimal digits", details={"field": "sha256"})
    return text


def check_words(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_WORDS or not all(
            isinstance(w, str) and w.strip() and len(w) <= 200 for w in value):
        raise InvalidInput(f"{field} must be a list of at most {MAX_WORDS} non-empty strings (200 characters each)",
                           details={"field": field})
    return list(dict.fromkeys(w.strip() for w in value))


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in 1 MiB chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_file(path: Any) -> Path:
    """The local LoRA file the user named: an absolute path to a regular file (a symlink is followed
    and must end at one) whose name and target end in a LoRA suffix; else 422 ``invalid_lora_file``."""
    def refuse(reason: str) -> InvalidInput:
        return InvalidInput(f"cannot register {path!r}: {reason}", code="invalid_lora_file",
                            details={"path": str(path), "reason": reason})

    if not isinstance(path, str) or not path or "\x00" in path:
        raise refuse("give the absolute path of a LoRA file")
    given = Path(path)
    if not given.is_absolute():
        raise refuse("the path must be absolute")
    real = Path(os.path.realpath(given))
    for candidate in (given, real):
        if not candidate.name.lower().endswith(SUFFIXES):
            raise refuse(f"a LoRA file ends in {', '.join(SUFFIXES)}")
    if not real.exists():
        raise refuse("no such file")
    if not real.is_file():
        raise refuse("it is not a regular file")
    return real


def _read() -> dict[str, dict[str, Any]]:
    return _read_from(_doc().read())


def _document(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"version": VERSION, "loras": [entries[k] for k in sorted(entries)]}


def register(*, path: str | None = None, name: str | None = None, sha256: str | None = None,
             base_model: str | None = None, trigger_words: list[str] | None = None, tags: list[str] | None = None,
             source: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Add a LoRA from a local file (``path``: its sha256 and size are computed) or by ``name`` and
    ``sha256`` alone. ``name`` defaults to the file name. A name already registered with other
    content is 409 unless ``replace``; the same content again answers the stored entry."""
    size = None
    if path is not None:
        real = check_file(path)
        digest, size = sha256_file(real)
        if sha256 is not None and check_sha(sha256) != digest:
            raise InvalidInput(f"{path} has sha256 {digest}, not the {sha256} given: check you picked the right file",
                               code="lora_sha_mismatch", details={"expected": sha256, "actual": digest})
        sha256, name = digest, name or Path(path).name
    elif sha256 is None or name is None:
        raise InvalidInput("give 'path' (a local LoRA file) or both 'name' and 'sha256'")
    entry = {"name": check_name(name), "path": str(real) if path is not None else None, "sha256": check_sha(sha256),
             "bytes": size, "base_model": base_model or None,
             "trigger_words": check_words(trigger_words, "trigger_words"),
             "tags": sorted({t.lower() for t in check_words(tags, "tags")}),
             "source": source or ("local" if path else "manual"),
             "registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    outcome: dict[str, Any] = {}

    def change(data: dict[str, Any]) -> dict[str, Any]:
        entries = _read_from(data)
        old = entries.get(entry["name"])
        if old is not None and old.get("sha256") != entry["sha256"] and not replace:
            raise Conflict(f"LoRA {entry['name']!r} is registered with another sha256 ({old.get('sha256')}): pass "
                           "replace=true to replace it, or register it under another name",
                           details={"name": entry["name"], "stored": old.get("sha256"), "given": entry["sha256"]})
        same = old is not None and {k: v for k, v in old.items() if k != "registered_at"} == {
            k: v for k, v in entry.items() if k != "registered_at"}
        outcome["entry"], outcome["created"] = (old, False) if same else (entry, True)
        entries[entry["name"]] = outcome["entry"]
        return _document(entries)

    _doc().mutate(change)
    if outcome["created"]:
        found = outcome["entry"]
        modder_hooks.emit("on_lora_registered", {k: found[k] for k in ("name", "sha256", "bytes", "base_model",
                                                                        "source")})
    return outcome["entry"] | {"created": outcome["created"]}


def _read_from(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = data.get("loras") or []
    return {e["name"]: e for e in items if isinstance(e, dict) and isinstance(e.get("name"), str)}


def find(name: str) -> dict[str, Any] | None:
    """The entry of ``name``, or None."""
    return _read().get(name)


def get(name: str) -> dict[str, Any]:
    """The entry of ``name``; 404 for anything not registered (a malformed name never is)."""
    found = find(name)
    if found is None:
        raise NotFound(f"no LoRA {name!r} in the registry; register it with POST /api/lora",
                       details={"kind": "lora", "name": name})
    return found


def search(*, q: str | None = None, tag: str | None = None, base_model: str | None = None) -> list[dict[str, Any]]:
    """Entries sorted by name: ``q`` matches name or trigger words (case-insensitive), ``tag`` a tag,
    ``base_model`` the base model exactly (case-insensitive)."""
    out = []
    for entry in _read().values():
        words = [entry["name"], *(entry.get("trigger_words") or [])]
        if q and not any(q.lower() in w.lower() for w in words):
            continue
        if tag and tag.lower() not in (entry.get("tags") or []):
            continue
        if base_model and (entry.get("base_model") or "").lower() != base_model.lower():
            continue
        out.append(entry)
    return sorted(out, key=lambda e: e["name"])


def delete(name: str) -> dict[str, Any]:
    """Forget a LoRA (its file is left alone); 404 for anything not registered."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        entries = _read_from(data)
        if entries.pop(name, None) is None:
            raise NotFound(f"no LoRA {name!r} in the registry", details={"kind": "lora", "name": name})
        return _document(entries)

    _doc().mutate(change)
    return {"name": name, "deleted": True}


def verify(names: list[str] | None = None) -> dict[str, Any]:
    """Hash each registered file again: ``{ok, mismatched: [{name, expected, actual}], missing:
    [{name, path}], remote: [names without a local file]}`` (lists sorted by name)."""
    entries = _read()
    if names is not None:
        unknown = sorted(set(names) - set(entries))
        if unknown:
            raise NotFound(f"not in the LoRA registry: {', '.join(unknown)}", details={"names": unknown})
        entries = {k: entries[k] for k in names}
    report: dict[str, list[Any]] = {"ok": [], "mismatched": [], "missing": [], "remote": []}
    for name in sorted(entries):
        entry = entries[name]
        path = entry.get("path")
        if not path:
            report["remote"].append(name)
            continue
        try:
            actual, _size = sha256_file(Path(path))
        except OSError:
            report["missing"].append({"name": name, "path": path})
            continue
        if actual == entry.get("sha256"):
            report["ok"].append(name)
        else:
            report["mismatched"].append({"name": name, "expected": entry.get("sha256"), "actual": actual})
    return report | {"checked": len(entries)}
