"""The dedup cache: each cached file's content is stored once, as a blob named by its SHA-256.

The index (``<root>/index.json``) holds one entry per cached file, keyed by the file's absolute
resolved path (POSIX form): the blob digest, the size, the pin flag and the last access time. Each
blob's refcount is the number of entries naming it; a blob is deleted when that drops to zero.
Limits (``max_entries``, ``max_bytes`` of blobs on disk) are kept by evicting unpinned entries,
least recently used first; pinned entries are never evicted.

Every operation runs under a file lock beside the index (exclusive across threads and processes),
re-reads the index and writes it back atomically. Blobs are written before the index names them and
deleted only after the index stopped naming them, so a crash at any point leaves a readable index
whose blobs all exist (at worst an orphan blob, which :meth:`CacheManager.rebuild` removes).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from comfyvn.cache import storage
from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import LOCK_TIMEOUT_SECONDS, atomic_write_json, read_json

log = logging.getLogger(__name__)

__all__ = ["INDEX_NAME", "SIDECAR_SUFFIX", "SKIP_DIRS", "CacheManager", "Entry", "default_root", "scan"]

INDEX_NAME = "index.json"
SIDECAR_SUFFIX = ".asset.json"
SKIP_DIRS = frozenset({"thumbnails", "thumbs", "__pycache__"})  # compared lower-case

Progress = Callable[[int, int, Path], None]  # (files done, files in total, the file just done)


def default_root() -> Path:
    """``<runtime cache dir>/dedup``."""
    return runtime_paths.cache_dir() / "dedup"


@dataclass(frozen=True)
class Entry:
    path: str  # absolute, resolved, POSIX form
    digest: str  # SHA-256 hex of the content
    bytes: int
    refcount: int  # entries sharing this blob, this one included
    pinned: bool
    last_access: float  # seconds since the epoch (the manager's clock)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scan(assets_dir: Path, *, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The files :meth:`CacheManager.rebuild` caches, sorted: everything under ``assets_dir``
    except hidden files and folders (name starts with "."), ``*.asset.json`` sidecars, folders
    named in :data:`SKIP_DIRS`, symbolic links, and the paths in ``exclude`` (the cache itself)."""
    skip = {Path(p).resolve() for p in exclude}
    found: list[Path] = []
    for folder, dirs, files in os.walk(assets_dir):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not (d.startswith(".") or d.lower() in SKIP_DIRS
                                                 or (here / d).is_symlink() or (here / d).resolve() in skip))
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or name.endswith(SIDECAR_SUFFIX) or path.is_symlink():
                continue
            if path.is_file() and path.resolve() not in skip:
                found.append(path)
    return found


class CacheManager:
    """A dedup cache rooted at ``root`` (default :func:`default_root`); blobs under ``<root>/blobs``.

    ``index`` overrides where the index file lives (default ``<root>/index.json``); ``clock``
    gives the time recorded as last access (tests inject one). Nothing touches the disk until a
    method needs it."""

    def __init__(self, root: Path | None = None, *, index: Path | None = None, max_entries: int | None = None,
                 max_bytes: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_root()
        self.index_path = Path(index).expanduser().resolve() if index is not None else self.root / INDEX_NAME
        self.blobs_dir = self.root / "blobs"
        self.max_entries = _limit("max_entries", max_entries)
        self.max_bytes = _limit("max_bytes", max_bytes)
        self._clock = clock
        self._lock = FileLock(str(self.index_path.with_name(f".{self.index_path.name}.lock")),
                              timeout=LOCK_TIMEOUT_SECONDS)

    # -- public API --------------------------------------------------------------------------------

    def add(self, path: Path | str) -> Entry:
        """Cache a file (store its blob unless that content is already stored) and mark it used.

        Adding a cached path again refreshes it: same content keeps the entry, new content moves
        it to the new blob (and drops the old blob if nothing else names it). The pin is kept.
        Limits are then enforced; the file just added is not evicted by its own add."""
        source = self._source(path)
        key = source.as_posix()
        with self._locked():
            entries = self._load()
            digest, size = self._store(source)
            old = entries.get(key)
            entries[key] = {"digest": digest, "bytes": size, "pinned": bool(old and old["pinned"]),
                            "last_access": self._now()}
            self._commit(entries, drop=self._plan_eviction(entries, keep=key),
                         maybe_orphaned={old["digest"]} if old else set())
            return _entry(key, entries[key], storage.refs(entries))

    def get(self, path: Path | str) -> Entry | None:
        """The entry of a path, or None. Reading does not count as a use (see :meth:`touch`)."""
        key = _key(path)
        entries = self._read()
        return _entry(key, entries[key], storage.refs(entries)) if key in entries else None

    def lookup(self, digest: str) -> Path | None:
        """The blob file holding this content (SHA-256 hex), or None when it is not cached."""
        digest = str(digest).lower()
        if not storage.is_digest(digest):
            raise InvalidInput(f"{digest!r} is not a SHA-256 digest; give 64 hexadecimal characters")
        if digest not in storage.refs(self._read()):
            return None
        blob = self.blob_path(digest)
        return blob if blob.is_file() else None

    def blob_path(self, digest: str) -> Path:
        return storage.blob_path(self.blobs_dir, digest)

    def release(self, path: Path | str) -> int:
        """Remove a path's entry (pinned or not) and return how many entries still share its blob;
        at 0 the blob is deleted."""
        key = _key(path)
        with self._locked():
            entries = self._load()
            digest = self._require(entries, key)["digest"]
            del entries[key]
            self._commit(entries, maybe_orphaned={digest})
            return storage.refs(entries)[digest]

    def pin(self, path: Path | str) -> Entry:
        """Keep a cached path out of eviction."""
        return self._update(path, lambda entry: entry.update(pinned=True))

    def unpin(self, path: Path | str) -> Entry:
        return self._update(path, lambda entry: entry.update(pinned=False))

    def touch(self, path: Path | str) -> Entry:
        """Mark a cached path as just used (moves it to the back of the eviction order)."""
        return self._update(path, lambda entry: entry.update(last_access=self._now()))

    def evict(self) -> list[Entry]:
        """Evict unpinned entries, least recently used first, until both limits hold (or only
        pinned entries are left); return the evicted entries."""
        with self._locked():
            entries = self._load()
            drop = self._plan_eviction(entries)
            return self._commit(entries, drop=drop) if drop else []

    def entries(self) -> list[Entry]:
        """Every entry, sorted by path."""
        entries = self._read()
        refs = storage.refs(entries)
        return [_entry(key, entries[key], refs) for key in sorted(entries)]

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: ``bytes`` is what the blobs take on disk, ``logical_bytes`` what the
        cached files add up to, ``saved_bytes`` the difference (what dedup saved)."""
        return {"root": str(self.root), "index": str(self.index_path), **_totals(self._read()),
                "max_entries": self.max_entries, "max_bytes": self.max_bytes}

    def rebuild(self, assets_dir: Path | str, *, preserve_pins: bool = True,
                progress: Progress | None = None) -> dict[str, Any]:
        """Make the index describe exactly the files :func:`scan` finds under ``assets_dir``.

        Every file is hashed again. Entries of files no longer there (or outside ``assets_dir``)
        are dropped; pins of paths still present are kept unless ``preserve_pins`` is False; last
        access times of known paths are kept. Blobs nothing names are deleted, then the limits are
        enforced. Returns a summary (counts). Files are hashed and stored without holding the lock;
        only the index update does."""
        assets = self._assets_dir(assets_dir)
        files = scan(assets, exclude=(self.root, self.index_path))
        scanned: dict[str, tuple[Path, str, int]] = {}
        unreadable: list[str] = []
        for done, file in enumerate(files, start=1):
            try:
                digest, size = storage.store(self.blobs_dir, file)
            except FileNotFoundError:  # removed while we scanned
                pass
            except OSError as exc:
                log.warning("Dedup cache rebuild could not read a file; skipped it",
                            extra={"path": str(file), "error": str(exc)})
                unreadable.append(file.as_posix())
            else:
                scanned[file.resolve().as_posix()] = (file, digest, size)
            if progress is not None:
                progress(done, len(files), file)
        with self._locked():
            old = self._load()
            now = self._now()
            entries: dict[str, dict[str, Any]] = {}
            counts: Counter[str] = Counter()
            for key, (file, digest, size) in sorted(scanned.items()):
                if not self.blob_path(digest).is_file():  # removed by another process meanwhile
                    try:
                        digest, size = storage.store(self.blobs_dir, file)
                    except OSError:
                        continue
                before = old.get(key)
                counts["added" if before is None else "unchanged" if before["digest"] == digest else "changed"] += 1
                entries[key] = {"digest": digest, "bytes": size,
                                "last_access": before["last_access"] if before else now,
                                "pinned": bool(preserve_pins and before and before["pinned"])}
            drop = self._plan_eviction(entries)
            for key in drop:
                del entries[key]
            self._save(entries)
            removed = storage.sweep(self.blobs_dir, set(storage.refs(entries)))
        pinned_before = {key for key, entry in old.items() if entry["pinned"]}
        return {"assets": assets.as_posix(), "index": str(self.index_path), "files": len(scanned),
                **{name: counts[name] for name in ("added", "changed", "unchanged")},
                "dropped": len(set(old) - set(scanned)), "evicted": len(drop),
                "pins_dropped": len(pinned_before - {key for key, e in entries.items() if e["pinned"]}),
                "blobs_removed": removed, "unreadable": unreadable, **_totals(entries)}

    # -- internals ---------------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._clock())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            yield

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.index_path.exists():  # nothing cached yet: create nothing
            return {}
        with self._locked():
            return self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        existed = self.index_path.exists()
        data = read_json(self.index_path, default=None)  # a file that does not parse is moved aside
        if data is None:
            if existed:
                log.warning("Dedup cache index was unreadable and moved aside; starting empty "
                            "(scripts/rebuild_dedup_cache.py restores it)", extra={"path": str(self.index_path)})
            return {}
        entries = storage.parse_index(data)
        if entries is None:
            aside = storage.move_aside(self.index_path)
            log.warning("Dedup cache index has an unexpected shape; moved aside, starting empty "
                        "(scripts/rebuild_dedup_cache.py restores it)",
                        extra={"path": str(self.index_path), "moved_to": str(aside)})
            return {}
        if data.get("blobs") != storage.blob_table(entries):
            log.warning("Dedup cache index refcounts did not match its entries; recounted",
                        extra={"path": str(self.index_path)})
        return entries

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        atomic_write_json(self.index_path, storage.index_document(entries))

    def _commit(self, entries: dict[str, dict[str, Any]], *, drop: Sequence[str] = (),
                maybe_orphaned: set[str] = frozenset()) -> list[Entry]:
        """Remove ``drop``, write the index, then delete blobs nobody names any more."""
        refs = storage.refs(entries)
        gone = [_entry(key, entries[key], refs) for key in drop]
        for key in drop:
            del entries[key]
        self._save(entries)  # first: the index never names a deleted blob
        live = storage.refs(entries)
        for digest in sorted((set(maybe_orphaned) | {entry.digest for entry in gone}) - set(live)):
            storage.remove(self.blobs_dir, digest)
        if gone:
            log.info("Dedup cache evicted entries", extra={"count": len(gone), "paths": [e.path for e in gone]})
        return gone

    def _plan_eviction(self, entries: dict[str, dict[str, Any]], keep: str | None = None) -> list[str]:
        if self.max_entries is None and self.max_bytes is None:
            return []
        refs = storage.refs(entries)
        count = len(entries)
        stored = sum(blob["bytes"] for blob in storage.blob_table(entries).values())

        def within() -> bool:
            return ((self.max_entries is None or count <= self.max_entries)
                    and (self.max_bytes is None or stored <= self.max_bytes))

        drop: list[str] = []
        oldest_first = sorted((e["last_access"], key) for key, e in entries.items() if not e["pinned"] and key != keep)
        for _, key in oldest_first:
            if within():
                break
            drop.append(key)
            count -= 1
            digest = entries[key]["digest"]
            refs[digest] -= 1
            if refs[digest] == 0:
                stored -= entries[key]["bytes"]
        return drop

    def _update(self, path: Path | str, change: Callable[[dict[str, Any]], object]) -> Entry:
        key = _key(path)
        with self._locked():
            entries = self._load()
            change(self._require(entries, key))
            self._save(entries)
            return _entry(key, entries[key], storage.refs(entries))

    def _require(self, entries: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        if key not in entries:
            raise NotFound(f"{key} is not in the dedup cache; add it first", details={"path": key})
        return entries[key]

    def _source(self, path: Path | str) -> Path:
        source = Path(path).expanduser().resolve()
        if not source.exists():
            raise NotFound(f"{path} does not exist; give the path of a file to cache", details={"path": str(path)})
        if not source.is_file():
            raise InvalidInput(f"{path} is not a regular file; the dedup cache stores files, not folders "
                               "(use rebuild for a whole folder)", details={"path": str(path)})
        if source.is_relative_to(self.root):
            raise InvalidInput(f"{path} is inside the cache folder {self.root}; give an asset file",
                               details={"path": str(path)})
        return source

    def _store(self, source: Path) -> tuple[str, int]:
        try:
            return storage.store(self.blobs_dir, source)
        except FileNotFoundError:
            raise NotFound(f"{source} disappeared while it was being cached; try again",
                           details={"path": str(source)}) from None

    def _assets_dir(self, assets_dir: Path | str) -> Path:
        assets = Path(assets_dir).expanduser().resolve()
        if not assets.exists():
            raise NotFound(f"assets folder {assets_dir} does not exist; give the folder that holds the asset files",
                           details={"path": str(assets_dir)})
        if not assets.is_dir():
            raise InvalidInput(f"{assets_dir} is not a folder; give the folder that holds the asset files",
                               details={"path": str(assets_dir)})
        return assets


# -- index helpers ---------------------------------------------------------------------------------

def _key(path: Path | str) -> str:
    return Path(path).expanduser().resolve().as_posix()


def _limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} must be a whole number of 0 or more (or None for no limit), got {value!r}")
    return value


def _totals(entries: dict[str, dict[str, Any]]) -> dict[str, int]:
    stored = sum(blob["bytes"] for blob in storage.blob_table(entries).values())
    logical = sum(entry["bytes"] for entry in entries.values())
    return {"entries": len(entries), "blobs": len(storage.refs(entries)),
            "pinned": sum(entry["pinned"] for entry in entries.values()),
            "bytes": stored, "logical_bytes": logical, "saved_bytes": logical - stored}


def _entry(key: str, raw: dict[str, Any], refs: Counter[str]) -> Entry:
    return Entry(path=key, digest=raw["digest"], bytes=raw["bytes"], refcount=refs[raw["digest"]],
                 pinned=raw["pinned"], last_access=raw["last_access"])
