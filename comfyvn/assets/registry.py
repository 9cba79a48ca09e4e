"""``AssetRegistry``: every image, sound and voice line of a project, one ``.asset.json`` sidecar
next to each file as the source of truth, and a SQLite index for search.

An asset is identified by its content: ``uid`` is the start of the SHA-256 of the bytes it was
registered with, so the same content registered twice (even by two processes at once) is one
asset. ``hash`` is the SHA-256 of the file as stored (after provenance was embedded) and
``version`` counts the sidecar's changes. Writes are ordered so a crash at any point leaves every
sidecar whole: the file is written before its sidecar, a sidecar is removed before its file, and
the index repairs itself from the sidecars (see ``comfyvn.assets.index``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from comfyvn.assets import paths, previews
from comfyvn.assets.index import AssetIndex
from comfyvn.assets.media import sniff
from comfyvn.core import modder_hooks
from comfyvn.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from comfyvn.core.store import atomic_write_bytes, atomic_write_json, batch_writes
from comfyvn.projects.store import require_project

log = logging.getLogger(__name__)

UID_HEX = 24
REQUIRED_FIELDS = ("uid", "type", "path", "hash", "bytes", "created_at")  # a sidecar without one is unreadable
MAX_TAGS, MAX_TAG = 64, 64
HOOK_EVENTS = {"asset_registered": ("on_asset_registered", "on_asset_saved"),
               "asset_meta_updated": ("on_asset_meta_updated",),
               "asset_removed": ("on_asset_removed",),
               "asset_sidecar_written": ("on_asset_sidecar_written",)}
Hook = Callable[[dict[str, Any]], None]
_UNSET: Any = object()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_tags(tags: object) -> list[str]:
    """Tags as stored: trimmed, lower-case, unique, sorted."""
    if isinstance(tags, (str, bytes, dict)) or not isinstance(tags, Iterable):  # not "a,b" as a, ",", b
        raise InvalidInput("tags must be a list of strings", details={"field": "tags"})
    out = set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG or any(ord(c) < 32 for c in tag):
            raise InvalidInput(f"invalid tag {tag!r}: 1-{MAX_TAG} printable characters", details={"field": "tags"})
        out.add(tag.strip().lower())
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"an asset has at most {MAX_TAGS} tags", details={"field": "tags"})
    return sorted(out)


def _check_license(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        raise InvalidInput("license must be a string of at most 200 characters, or null", details={"field": "license"})
    return value.strip() or None if isinstance(value, str) else None


def _check_object(value: object, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object", details={"field": field})
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise InvalidInput(f"{field} is not plain JSON: {exc}", details={"field": field}) from None
    return value


class AssetRegistry:
    """The assets of one project. Get it with :func:`registry` so hooks and the index are shared."""

    def __init__(self, project: str = "default") -> None:
        self.project = project
        self.root = paths.asset_root(project)
        self.index = AssetIndex(paths.index_path(project))
        self._hooks: dict[str, list[Hook]] = {event: [] for event in HOOK_EVENTS}
        self._opened = False
        self._open_lock = threading.Lock()

    # -- hooks --------------------------------------------------------------------------------
    def add_hook(self, event: str, callback: Hook) -> Callable[[], None]:
        """Call ``callback(payload)`` after ``event`` (one of :data:`HOOK_EVENTS`); returns the remover."""
        if event not in self._hooks:
            raise InvalidInput(f"unknown asset hook {event!r}; use one of {', '.join(HOOK_EVENTS)}")
        self._hooks[event].append(callback)
        return lambda: self._hooks[event].remove(callback) if callback in self._hooks[event] else None

    def hooks(self) -> dict[str, list[str]]:
        return {event: [getattr(h, "__qualname__", repr(h)) for h in hooks] for event, hooks in self._hooks.items()}

    def _emit(self, event: str, sidecar: dict[str, Any]) -> None:
        payload = {"project": self.project, "uid": sidecar["uid"], "type": sidecar["type"], "path": sidecar["path"],
                   "sidecar": sidecar, "meta": sidecar.get("meta", {}), "hook_event": event, "timestamp": time.time()}
        for hook in list(self._hooks[event]):
            try:
                hook(payload)
            except Exception:  # a failing hook never undoes or blocks the write
                log.exception("asset hook failed", extra={"hook_event": event, "listener": repr(hook)})
        for name in HOOK_EVENTS[event]:
            modder_hooks.emit(name, payload)

    # -- opening ------------------------------------------------------------------------------
    def open(self) -> AssetRegistry:
        """Check the project exists; create the index from the sidecars when it is new and repair
        what an interrupted write left pending."""
        if self._opened:
            return self
        with self._open_lock:
            if not self._opened:
                require_project(self.project)
                with paths.assets_lock(self.project):
                    fresh = not self.index.path.exists()
                    if not fresh:  # opening it recreates an unreadable or outdated index, empty
                        self.index.reconcile(self._load_by_uid)
                    if fresh or self.index.recreated:
                        self.index.recreated = False
                        self.index.rebuild(self.sidecars())
                self._opened = True
                previews.catch_up(self)
        return self

    def sidecars(self) -> Iterator[dict[str, Any]]:
        """Every readable sidecar under the asset root (unreadable ones are logged and skipped)."""
        if not self.root.is_dir():
            return
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.endswith(paths.SIDECAR_SUFFIX):
                    sidecar = self._read_sidecar(Path(folder) / name)
                    if sidecar is not None:
                        yield sidecar

    def _read_sidecar(self, path: Path) -> dict[str, Any] | None:
        """The sidecar at ``path`` if it is a regular file with the required fields whose ``path``
        names the file beside it; ``None`` (logged) otherwise, so a hand-edited sidecar can never
        point the registry outside the asset folder."""
        try:
            data = orjson.loads(paths.read_regular(path))
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("asset sidecar %s is unreadable (%s); skipped", path, exc)
            return None
        if not isinstance(data, dict) or any(key not in data for key in REQUIRED_FIELDS):
            log.warning("asset sidecar %s lacks %s; skipped", path,
                        ", ".join(k for k in REQUIRED_FIELDS if not isinstance(data, dict) or k not in data))
            return None
        where = path.relative_to(self.root).as_posix()[:-len(paths.SIDECAR_SUFFIX)]
        if data["path"] != where:
            log.warning("asset sidecar %s names %r, not the file beside it; skipped (run tools/assets_enforcer.py)",
                        path, data["path"])
            return None
        data.setdefault("tags", [])
        return data

    def _on_disk(self, sidecar: dict[str, Any]) -> dict[str, Any] | None:
        """The sidecar as stored now (hand and git edits included), or ``None`` when it is gone."""
        try:
            found = self._read_sidecar(paths.sidecar_of(paths.resolve(self.root, sidecar["path"])))
        except BadRequest:  # a symbolic link appeared along the path
            return None
        return found if found is not None and found["uid"] == sidecar["uid"] else None

    def rebuild_index(self) -> int:
        """Throw the index away and read it back from the sidecars; the number of assets."""
        with paths.assets_lock(self.project):
            return self.index.rebuild(self.sidecars())

    def _load_by_uid(self, uid: str) -> dict[str, Any] | None:
        known = self.index.get(uid)
        if known is not None:  # the sidecar at the indexed path, if it still is this asset's
            sidecar = self._on_disk(known)
            if sidecar is not None:
                return sidecar
        return next((s for s in self.sidecars() if s.get("uid") == uid), None)

    # -- reads --------------------------------------------------------------------------------
    def get(self, uid: str) -> dict[str, Any]:
        sidecar = self.open().index.get(uid) if isinstance(uid, str) else None
        if sidecar is None:
            raise NotFound(f"no asset {uid!r} in project {self.project!r}", details={"uid": uid})
        return sidecar

    def file_of(self, uid: str) -> Path:
        """The asset's file (404 when it is missing on disk)."""
        sidecar = self.get(uid)
        path = paths.resolve(self.root, sidecar["path"])
        if not path.is_file():
            raise NotFound(f"the file of asset {uid!r} ({sidecar['path']}) is missing; run tools/assets_enforcer.py "
                           "to audit the asset folder", details={"uid": uid, "path": sidecar["path"]})
        return path

    def query(self, *, type: str | None = None, hash: str | None = None, tags: Iterable[str] = (),
              q: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        items, total = self.open().index.query(type=type, hash=hash, tags=[t.strip().lower() for t in tags],
                                               q=q, limit=limit, offset=offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    # -- registration -------------------------------------------------------------------------
    def add_bytes(self, data: bytes, *, name: str = "", type: str | None = None, path: str | None = None,
                  tags: Iterable[str] = (), license: str | None = None, origin: str = "upload",
                  meta: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
                  max_bytes: int | None = None) -> tuple[dict[str, Any], bool]:
        """Store ``data`` as a new asset (``path`` relative to the asset root, or a folder chosen
        by type). Returns ``(sidecar, created)``; the same content again returns the first asset."""
        if max_bytes is not None and len(data) > max_bytes:
            raise PayloadTooLarge(f"the file is {len(data)} bytes, over the asset limit of {max_bytes} (setting "
                                  "assets.max_upload_bytes)", details={"bytes": len(data), "limit": max_bytes})
        return self.add_many([{"data": data, "name": name, "type": type, "path": path, "tags": tags,
                               "license": license, "origin": origin, "meta": meta, "provenance": provenance}])[0]

    def add_many(self, items: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
        """Several :meth:`add_bytes` at once (each item: ``data`` plus its keyword arguments): one
        lock, one folder sync per folder, one index transaction. Everything is checked before the
        first write; a bad item fails the whole call."""
        prepared = []
        for item in items:
            data, name = item["data"], item.get("name") or ""
            fields = self._fields(data, name, item.get("type"), item.get("tags") or (), item.get("license"),
                                  item.get("origin") or "upload", item.get("meta"), item.get("provenance"))
            prepared.append((data, name, item.get("path"), fields))
        self.open()
        results: list[tuple[dict[str, Any], bool]] = []
        with paths.assets_lock(self.project):
            plans, planned, taken = [], {}, set()
            for data, name, path, fields in prepared:
                existing = self._existing(fields["uid"], data) or planned.get(fields["uid"])
                if existing is not None:
                    results.append((existing, False))
                    continue
                rel = paths.check_relpath(path) if path else self._free_name(fields, name, data, taken)
                target = paths.resolve(self.root, rel)
                paths.check_parents(self.root, rel)
                if rel in taken or (path and (self._occupied(target, data) or self.index.uid_at(rel))):
                    raise Conflict(f"{rel!r} already exists in the asset folder: register it with POST "
                                   "/assets/register, or choose another path", details={"path": rel})
                taken.add(rel)
                planned[fields["uid"]] = fields
                plans.append((fields, rel, target, data))
                results.append((fields, True))
            written = self._write_new(plans)
        by_uid = {s["uid"]: s for s in written}
        return [(by_uid.get(s["uid"], s), created) for s, created in results]

    def register(self, path: str, *, type: str | None = None, tags: Iterable[str] = (), license: str | None = None,
                 origin: str = "file", meta: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Register a file already inside the asset root. Its content decides the uid: a file
        equal to an existing asset returns that asset."""
        self.open()
        rel = paths.check_relpath(path)
        target = paths.resolve(self.root, rel)
        if not target.is_file():
            raise NotFound(f"no file {rel!r} in the asset folder of project {self.project!r}: copy it into "
                           f"{self.root} first, or upload it with POST /assets/upload", details={"path": rel})
        data = target.read_bytes()
        fields = self._fields(data, target.name, type, tags, license, origin, meta, provenance)
        with paths.assets_lock(self.project):
            existing = self._existing(fields["uid"], data)
            if existing is not None:
                return existing, False
            taken = self.index.uid_at(rel)
            if taken:
                raise Conflict(f"{rel!r} is already registered as asset {taken!r} with other content: its file was "
                               "changed; delete the asset first", details={"path": rel, "uid": taken})
            return self._write_new([(fields, rel, target, data)])[0], True

    def _fields(self, data: bytes, name: str, asset_type: str | None, tags: Iterable[str], license: str | None,
                origin: str, meta: dict[str, Any] | None, provenance: dict[str, Any] | None) -> dict[str, Any]:
        sniffed = sniff(data[:64])
        if sniffed is None:
            raise InvalidInput(f"{name or 'the file'} is not a supported image or sound (PNG, JPEG, GIF, WebP, WAV, "
                               "OGG, FLAC, MP3); the type is read from the content, not the file name",
                               code="unsupported_media", details={"name": name})
        asset_type = paths.check_type(asset_type or sniffed.kind)
        wanted = paths.KINDS.get(asset_type)
        if wanted and wanted != sniffed.kind:
            raise InvalidInput(f"asset type {asset_type!r} holds {wanted} files, but {name or 'the file'} is "
                               f"{sniffed.kind} ({sniffed.mime})", code="type_mismatch",
                               details={"type": asset_type, "content": sniffed.mime})
        if not isinstance(origin, str) or not origin or len(origin) > 100:
            raise InvalidInput("origin must be a short non-empty string", details={"field": "origin"})
        return {"uid": hashlib.sha256(data).hexdigest()[:UID_HEX], "type": asset_type, "tags": check_tags(tags),
                "license": _check_license(license), "origin": origin,
                "meta": {**_check_object(meta, "meta"), "mime": sniffed.mime},  # the content decides
                "provenance": _check_object(provenance, "provenance"), "sniffed": sniffed}

    @staticmethod
    def _occupied(target: Path, data: bytes) -> bool:
        """Whether ``target`` holds something else: a file with a sidecar, or other content (a file
        with this content and no sidecar is what an interrupted registration left: reused)."""
        if paths.sidecar_of(target).exists():
            return True
        if not target.exists():
            return False
        return not target.is_file() or target.stat().st_size != len(data) or target.read_bytes() != data

    def _existing(self, uid: str, data: bytes) -> dict[str, Any] | None:
        """The asset holding this content, if its sidecar is still there (a row whose sidecar was
        deleted by hand is dropped, so the content can be registered again)."""
        found = self.index.get(uid)
        if found is None:
            items, _ = self.index.query(hash=hashlib.sha256(data).hexdigest(), limit=1)
            found = items[0] if items else None
        if found is None:
            return None
        current = self._on_disk(found)
        if current is None:
            self.index.drop([found["uid"]])
            return None
        target = paths.resolve(self.root, current["path"])
        if not target.exists() and hashlib.sha256(data).hexdigest() == current["hash"]:
            atomic_write_bytes(target, data)  # the file was lost; the same content brings it back
        return current

    def _free_name(self, fields: dict[str, Any], name: str, data: bytes,
                   taken: set[str] = frozenset()) -> str:  # type: ignore[assignment]
        folder = paths.default_folder(fields["type"])
        first = f"{folder}/{paths.safe_name(name, fields['sniffed'].ext)}"
        stem, ext = first.rsplit(".", 1)
        candidates = [first, f"{stem}-{fields['uid'][:8]}.{ext}"]
        for rel in itertools.chain(candidates, (f"{stem}-{fields['uid'][:8]}-{n}.{ext}" for n in range(2, 10_000))):
            target = self.root / rel
            if not (rel in taken or self._occupied(target, data) or self.index.uid_at(rel)):
                return rel
        raise Conflict(f"no free file name for {first!r}", details={"path": first})

    def _write_new(self, plans: list[tuple[dict[str, Any], str, Path, bytes]]) -> list[dict[str, Any]]:
        """Write files, then sidecars, then index rows (caller holds the lock); events after."""
        from comfyvn.assets import provenance as embed

        if not plans:
            return []
        self.index.mark(fields["uid"] for fields, *_ in plans)
        sidecars = []
        with batch_writes():
            for fields, rel, target, data in plans:
                sniffed, block = fields["sniffed"], fields["provenance"]
                notes = []
                if sniffed.ext == "png" and (block or _has_comfy_chunks(data)):  # ComfyUI's graphs never stay
                    data = embed.embed_png(data, {**block, "asset_uid": fields["uid"]})
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, data)
                if sniffed.kind == "audio" and block:
                    status = embed.embed_audio(target, {**block, "asset_uid": fields["uid"]})
                    if status != "embedded":
                        notes.append(f"provenance not embedded in the file: {status.removeprefix('skipped: ')}")
                    data = target.read_bytes()
                now = _now()
                sidecar = {"uid": fields["uid"], "type": fields["type"], "path": rel,
                           "hash": hashlib.sha256(data).hexdigest(), "bytes": len(data), "tags": fields["tags"],
                           "license": fields["license"], "origin": fields["origin"], "version": 1, "created_at": now,
                           "updated_at": now, "meta": fields["meta"], "preview": {"status": "pending"},
                           "provenance": block}
                if notes:
                    sidecar["notes"] = notes
                atomic_write_json(paths.sidecar_of(target), sidecar)
                sidecars.append(sidecar)
        self.index.put(sidecars)
        for sidecar in sidecars:
            self._emit("asset_registered", sidecar)
            self._emit("asset_sidecar_written", sidecar)
            previews.schedule(self, sidecar["uid"])
        return sidecars

    # -- changes ------------------------------------------------------------------------------
    def update(self, uid: str, **changes: Any) -> dict[str, Any]:
        """Change one asset's ``tags`` (replace), ``add_tags``, ``remove_tags``, ``license``, ``meta``
        (merged; a null value removes a key); ``expected_version`` guards against lost updates."""
        return self.update_many([uid], **changes)[0]

    def update_many(self, uids: list[str], *, tags: Iterable[str] | None = None, add_tags: Iterable[str] = (),
                    remove_tags: Iterable[str] = (), license: Any = _UNSET, meta: dict[str, Any] | None = None,
                    expected_version: int | None = None) -> list[dict[str, Any]]:
        """The same change on several assets, all or none (an unknown uid changes nothing)."""
        new_tags = check_tags(tags) if tags is not None else None
        add, remove = check_tags(add_tags), check_tags(remove_tags)
        meta = _check_object(meta, "meta")
        if "mime" in meta:
            raise InvalidInput("meta.mime is read from the file's content and cannot be changed",
                               details={"field": "meta.mime"})
        new_license = _check_license(license) if license is not _UNSET else _UNSET
        with paths.assets_lock(self.project):
            current = [self._current(uid) for uid in dict.fromkeys(uids)]
            if expected_version is not None and current and current[0]["version"] != expected_version:
                raise Conflict(f"asset {current[0]['uid']!r} is at version {current[0]['version']}, not "
                               f"{expected_version}: reload it and apply your change again",
                               details={"uid": current[0]["uid"], "version": current[0]["version"]})
            changed = []
            for sidecar in current:
                updated = dict(sidecar)
                tag_set = set(new_tags if new_tags is not None else sidecar["tags"])
                updated["tags"] = check_tags(sorted((tag_set | set(add)) - set(remove)))
                if new_license is not _UNSET:
                    updated["license"] = new_license
                if meta:
                    merged = {**sidecar["meta"], **meta}
                    updated["meta"] = {k: v for k, v in merged.items() if v is not None}
                if updated != sidecar:
                    changed.append(updated)
            self._rewrite(changed)
        for sidecar in changed:
            self._emit("asset_meta_updated", sidecar)
        changed_by_uid = {s["uid"]: s for s in changed}
        return [changed_by_uid.get(s["uid"], s) for s in current]

    def _current(self, uid: str) -> dict[str, Any]:
        """The asset's sidecar as stored on disk (the source of truth: a hand edit the index has not
        seen yet is kept); 404 when the asset or its sidecar is gone. Caller holds the lock."""
        current = self._on_disk(self.get(uid))
        if current is None:
            self.index.drop([uid])
            raise NotFound(f"asset {uid!r}'s sidecar is gone; the asset no longer exists", details={"uid": uid})
        return current

    def _rewrite(self, sidecars: list[dict[str, Any]], *, bump: bool = True) -> None:
        """Write changed sidecars and index them; caller holds the lock. ``bump``: a change of the
        asset's metadata (``version`` + 1, ``updated_at``); previews are not."""
        if not sidecars:
            return
        self.index.mark(s["uid"] for s in sidecars)
        with batch_writes():
            for sidecar in sidecars:
                if bump:
                    sidecar["version"] += 1
                    sidecar["updated_at"] = _now()
                atomic_write_json(paths.sidecar_of(paths.resolve(self.root, sidecar["path"])), sidecar)
        self.index.put(sidecars)
        for sidecar in sidecars:
            self._emit("asset_sidecar_written", sidecar)

    def set_preview(self, uid: str, preview: dict[str, Any]) -> dict[str, Any] | None:
        """Record generated previews (the worker calls this); ``None`` when the asset went away."""
        with paths.assets_lock(self.project):
            known = self.index.get(uid)
            sidecar = self._on_disk(known) if known is not None else None
            if sidecar is None:  # deleted while the worker made them
                previews.remove_files(self.root, uid)
                return None
            sidecar["preview"] = preview
            self._rewrite([sidecar], bump=False)
            return sidecar

    def remove(self, uid: str, *, keep_file: bool = False) -> dict[str, Any]:
        """Delete the asset: sidecar first (the asset is gone), then its file and previews."""
        with paths.assets_lock(self.project):
            sidecar = self.get(uid)
            target = paths.resolve(self.root, sidecar["path"])
            self.index.mark([uid])
            paths.sidecar_of(target).unlink(missing_ok=True)
            if not keep_file:
                target.unlink(missing_ok=True)
            previews.remove_files(self.root, uid)
            self.index.drop([uid])
        self._emit("asset_removed", sidecar)
        return sidecar


def _has_comfy_chunks(data: bytes) -> bool:
    from comfyvn.assets import provenance

    try:
        return provenance.has_text(data)
    except InvalidInput:  # a damaged PNG: stored as it is; its previews will say why they failed
        return False


_registries: dict[str, AssetRegistry] = {}
_registries_lock = threading.Lock()


def registry(project: str = "default") -> AssetRegistry:
    """The shared registry of ``project`` (one per process, so hooks and connections are shared)."""
    from comfyvn.projects.paths import check_id

    check_id(project, "project")
    with _registries_lock:
        found = _registries.get(project)
        stale = found is not None and (found.root != paths.asset_root(project)  # the runtime root moved (tests)
                                       or (found._opened and not found.index.path.exists()))  # project deleted
        if found is None or stale:
            if found is not None:
                found.index.close()
            found = _registries[project] = AssetRegistry(project)
        return found


def reset() -> None:
    """Forget the shared registries (tests)."""
    with _registries_lock:
        for found in _registries.values():
            found.index.close()
        _registries.clear()
