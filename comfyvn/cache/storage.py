"""What the dedup cache keeps on disk: blob files and the index document.

Blobs are content-addressed: ``<blobs>/<first 2 hex digits>/<sha256 hex>``.
A blob is written like every other file of the product (temp file in the target folder, fsync,
rename, fsync of the folder), so it is either absent or complete. Assets can be large, so blobs are
streamed in chunks through ``comfyvn.core.store.atomic_write_stream``. A blob's name is the SHA-256 of the bytes actually copied, so a source
file that changes while it is being copied still yields a blob whose name matches its content.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from comfyvn.core.store import atomic_write_stream

INDEX_VERSION = 1
CHUNK_SIZE = 1 << 20
STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a writer that died
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST_RE.fullmatch(value) is not None


def blob_path(blobs_dir: Path, digest: str) -> Path:
    return Path(blobs_dir) / digest[:2] / digest


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in chunks."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def store(blobs_dir: Path, source: Path) -> tuple[str, int]:
    """Make sure the content of ``source`` is stored as a blob; return its (digest, size).

    Content already stored is not copied again (that is the dedup)."""
    digest, size = hash_file(source)
    if blob_path(blobs_dir, digest).is_file():
        return digest, size
    sha = hashlib.sha256()
    size = 0

    def write(out: Any) -> Path:  # the name is the hash of what was copied (see the module docstring)
        nonlocal size
        with open(source, "rb") as src:
            while chunk := src.read(CHUNK_SIZE):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return blob_path(blobs_dir, sha.hexdigest())

    atomic_write_stream(blob_path(blobs_dir, digest).parent, write, prefix=digest)
    return sha.hexdigest(), size


def remove(blobs_dir: Path, digest: str) -> bool:
    """Delete one blob; False when it was not there."""
    try:
        blob_path(blobs_dir, digest).unlink()
    except FileNotFoundError:
        return False
    return True


def on_disk(blobs_dir: Path) -> dict[str, int]:
    """Every blob file present: digest -> size."""
    found: dict[str, int] = {}
    if not Path(blobs_dir).is_dir():
        return found
    for folder in sorted(Path(blobs_dir).iterdir()):
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir()):
            if is_digest(item.name) and item.name[:2] == folder.name and item.is_file():
                found[item.name] = item.stat().st_size
    return found


def sweep(blobs_dir: Path, keep: set[str]) -> int:
    """Delete blobs not in ``keep`` and temp files left by dead writers; return how many blobs went."""
    removed = 0
    for digest in on_disk(blobs_dir):
        if digest not in keep and remove(blobs_dir, digest):
            removed += 1
    cutoff = time.time() - STALE_TEMP_SECONDS  # file times are wall-clock times
    for tmp in Path(blobs_dir).glob("*/.*.tmp") if Path(blobs_dir).is_dir() else []:
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except FileNotFoundError:
            pass
    return removed


# -- the index document ----------------------------------------------------------------------------

def index_document(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What ``index.json`` holds: the entries and, derived from them, each blob's size and refcount."""
    return {"version": INDEX_VERSION, "entries": entries, "blobs": blob_table(entries)}


def refs(entries: dict[str, dict[str, Any]]) -> Counter[str]:
    return Counter(entry["digest"] for entry in entries.values())


def blob_table(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for entry in entries.values():
        blob = table.setdefault(entry["digest"], {"bytes": entry["bytes"], "refcount": 0})
        blob["refcount"] += 1
    return table


def parse_index(data: Any) -> dict[str, dict[str, Any]] | None:
    """The entries of a stored index, or None when it is not an index this code wrote."""
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
        return None
    entries: dict[str, dict[str, Any]] = {}
    sizes: dict[str, int] = {}
    for key, raw in data["entries"].items():
        if not isinstance(raw, dict):
            return None
        digest, size, pinned, last = raw.get("digest"), raw.get("bytes"), raw.get("pinned"), raw.get("last_access")
        if (not is_digest(digest) or type(size) is not int or size < 0 or type(pinned) is not bool
                or type(last) not in (int, float) or sizes.setdefault(digest, size) != size):
            return None
        entries[key] = {"digest": digest, "bytes": size, "pinned": pinned, "last_access": float(last)}
    return entries


def move_aside(path: Path) -> Path:
    """Rename a bad index to ``<name>.corrupt-<unix time>[-n]`` (kept for inspection)."""
    stamp = int(time.time())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 0
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    os.replace(path, aside)
    return aside

