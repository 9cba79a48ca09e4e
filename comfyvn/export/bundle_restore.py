"""Reading a project bundle back: check it completely, then restore it as a new project.

Before anything is written, the whole bundle is checked: a readable zip holding
``bundle_manifest.json`` of a known format; every member listed in the manifest and every listed
entry present, once; no absolute path, ``..``, backslash, control character, link or encrypted
member; sizes as the manifest says and below the limits. Entries are then streamed into a hidden
staging folder beside the projects, each one's SHA-256 checked (and the paths the bundle rewrote
put back, so every file is restored with its original name and bytes); only a complete, verified
folder is renamed into place. On any failure the staging folder is removed and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import ComfyVNError, Conflict, InvalidInput, NotFound, PayloadTooLarge
from comfyvn.core.store import atomic_write_json, atomic_write_stream, batch_writes, dumps
from comfyvn.export.bundle import FORMAT, FORMAT_VERSION, MANIFEST, Progress, excluded
from comfyvn.export.bundle_names import fold
from comfyvn.projects.paths import check_id, project_dir
from comfyvn.projects.store import PROJECT_FILE, project_lock

MAX_ENTRY_BYTES = 2 << 30  # one file
MAX_TOTAL_BYTES = 32 << 30  # the whole bundle, unpacked
MAX_MANIFEST_BYTES = 256 << 20
CHUNK = 1 << 20
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
Checked = list[tuple[dict[str, Any], zipfile.ZipInfo]]


def _bad(bundle: Path, message: str, entry: str | None = None, code: str = "corrupt_bundle") -> InvalidInput:
    where = f"bundle {bundle.name}, entry {entry!r}" if entry else f"bundle {bundle.name}"
    return InvalidInput(f"{where}: {message}", code=code, details={"bundle": str(bundle), "entry": entry})


def unsafe(name: str) -> str | None:
    """Why a path from a bundle could write outside its folder or is not portable; None if safe."""
    if not name:
        return "the path is empty"
    if "\\" in name:
        return "the path holds a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "the path is absolute"
    if any(ord(c) < 32 for c in name):
        return "the path holds a control character"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "the path holds '..', '.' or an empty segment"
    return None


def _open(bundle: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(bundle)
    except FileNotFoundError:
        raise NotFound(f"there is no bundle at {bundle}", details={"bundle": str(bundle)}) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _bad(bundle, f"not a readable zip archive ({exc}); the file is damaged or not a bundle") from None


def _chunks(bundle: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> Iterator[bytes]:
    """The member's bytes; refused when it holds more or fewer than ``size`` or does not unpack."""
    count = 0
    try:
        with archive.open(info) as source:
            while chunk := source.read(min(CHUNK, size + 1 - count)):
                count += len(chunk)
                if count > size:
                    raise _bad(bundle, f"it unpacks to more than the {size} bytes its manifest entry says",
                               info.filename)
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise _bad(bundle, f"it cannot be unpacked ({exc})", info.filename) from None
    if count != size:
        raise _bad(bundle, f"it unpacks to {count} bytes, not the {size} its manifest entry says", info.filename)


def _field(bundle: Path, entry: Any, index: int) -> dict[str, Any]:
    ok = (isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("bundled"), str)
          and type(entry.get("bytes")) is int and entry["bytes"] >= 0 and SHA_RE.match(str(entry.get("sha256"))))
    if ok and "rewrites" in entry:
        ok = (isinstance(entry["rewrites"], list) and type(entry.get("original_bytes")) is int
              and SHA_RE.match(str(entry.get("original_sha256"))) is not None
              and all(isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("pointer", "from", "to"))
                      for r in entry["rewrites"]))
    if not ok:
        raise _bad(bundle, f"manifest entry {index} lacks path, bundled, bytes or sha256, or has a wrong type",
                   MANIFEST)
    return entry


def _members(bundle: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename
        why = unsafe(name)
        if why:
            raise _bad(bundle, f"{why}; it could write outside the project, so the bundle is refused", name,
                       code="unsafe_bundle_path")
        if name in members:
            raise _bad(bundle, "it is in the archive twice", name)
        if stat.S_ISLNK(info.external_attr >> 16) or info.flag_bits & 0x1:
            raise _bad(bundle, "it is a symbolic link or encrypted; bundles hold plain files only", name)
        members[name] = info
    return members


def check(bundle: Path, archive: zipfile.ZipFile, *, max_entry_bytes: int = MAX_ENTRY_BYTES,
          max_total_bytes: int = MAX_TOTAL_BYTES) -> tuple[dict[str, Any], Checked]:
    """The manifest and each entry with its member, once every rule above holds (422/413 otherwise)."""
    members = _members(bundle, archive)
    if MANIFEST not in members:
        raise _bad(bundle, f"it has no {MANIFEST}: it was not made by `comfyvn bundle`", code="not_a_bundle")
    if members[MANIFEST].file_size > MAX_MANIFEST_BYTES:
        raise _bad(bundle, f"the manifest is over {MAX_MANIFEST_BYTES} bytes", MANIFEST, code="oversized_entry")
    try:
        manifest = json.loads(b"".join(_chunks(bundle, archive, members[MANIFEST], members[MANIFEST].file_size)))
    except ValueError as exc:
        raise _bad(bundle, f"it is not valid JSON ({exc})", MANIFEST) from None
    shaped = (isinstance(manifest, dict) and manifest.get("format") == FORMAT
              and isinstance(manifest.get("project"), dict) and type(manifest.get("format_version")) is int
              and isinstance(manifest.get("entries"), list))
    if not shaped:
        raise _bad(bundle, f"it is not a {FORMAT} manifest (format, format_version, project, entries)", MANIFEST)
    if manifest["format_version"] > FORMAT_VERSION:
        raise _bad(bundle, f"format version {manifest['format_version']} is newer than this ComfyVN reads "
                   f"({FORMAT_VERSION}); upgrade ComfyVN", MANIFEST, code="unsupported_bundle")
    checked: Checked = []
    paths: dict[str, str] = {}
    bundled: set[str] = set()
    total = 0
    for index, raw in enumerate(manifest["entries"]):
        entry = _field(bundle, raw, index)
        name = entry["bundled"]
        why = unsafe(name) or unsafe(entry["path"])
        if why or name == MANIFEST or excluded(entry["path"]):
            raise _bad(bundle, f"{why or 'it names a reserved or derived (hidden) file'}; the bundle is refused",
                       name, code="unsafe_bundle_path")
        if name not in members:
            raise _bad(bundle, "it is listed in the manifest but missing from the archive", name)
        if entry["path"] in paths or name in bundled:
            raise _bad(bundle, "the manifest lists it, or the path it restores to, twice", name)
        if members[name].file_size != entry["bytes"]:
            raise _bad(bundle, f"the archive says {members[name].file_size} bytes, the manifest {entry['bytes']}", name)
        size = max(entry["bytes"], entry.get("original_bytes", 0))
        total += size
        if size > max_entry_bytes or total > max_total_bytes:
            raise PayloadTooLarge(
                f"bundle {bundle.name}, entry {name!r}: {size} bytes is over the limit of {max_entry_bytes} bytes per "
                f"file or {max_total_bytes} in all; the bundle is refused", code="oversized_entry",
                details={"bundle": str(bundle), "entry": name, "bytes": size})
        paths[entry["path"]] = name
        bundled.add(name)
        checked.append((entry, members[name]))
    unlisted = sorted(set(members) - bundled - {MANIFEST})
    if unlisted:
        raise _bad(bundle, "it is not listed in the manifest; the bundle was changed after it was made", unlisted[0])
    if PROJECT_FILE not in paths:
        raise _bad(bundle, f"it holds no {PROJECT_FILE}", code="not_a_bundle")
    return manifest, checked


def _undo_rewrites(bundle: Path, entry: dict[str, Any], data: bytes) -> bytes:
    """The file as it was in the project: the paths the bundle rewrote put back, then checked."""
    try:
        value = json.loads(data)
        for change in entry["rewrites"]:
            tokens = [t.replace("~1", "/").replace("~0", "~") for t in change["pointer"].split("/")[1:]]
            if not tokens:
                value = change["from"] if value == change["to"] else None
                continue
            node = value
            for token in tokens[:-1]:
                node = node[int(token) if isinstance(node, list) else token]
            key = int(tokens[-1]) if isinstance(node, list) else tokens[-1]
            if node[key] != change["to"]:
                raise ValueError(f"{change['pointer']} is not {change['to']!r}")
            node[key] = change["from"]
        data = dumps(value).encode("utf-8")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _bad(bundle, f"its rewritten paths cannot be put back ({exc})", entry["bundled"]) from None
    if hashlib.sha256(data).hexdigest() != entry["original_sha256"]:
        raise _bad(bundle, "with its paths put back it does not match original_sha256", entry["bundled"])
    return data


def _verified(bundle: Path, archive: zipfile.ZipFile, entry: dict[str, Any], info: zipfile.ZipInfo,
              sink: Callable[[bytes], Any]) -> None:
    """Stream one entry to ``sink``, checked against its SHA-256 (paths put back when rewritten)."""
    digest, held = hashlib.sha256(), []
    for chunk in _chunks(bundle, archive, info, entry["bytes"]):
        digest.update(chunk)
        if "rewrites" in entry:
            held.append(chunk)
        else:
            sink(chunk)
    if digest.hexdigest() != entry["sha256"]:
        raise _bad(bundle, "its content does not match its sha256 in the manifest; the bundle is damaged",
                   entry["bundled"])
    if "rewrites" in entry:
        sink(_undo_rewrites(bundle, entry, b"".join(held)))


def verify(bundle: Path, **limits: int) -> dict[str, Any]:
    """Check a bundle completely (every entry's hash) without writing anything."""
    bundle = Path(bundle)
    with _open(bundle) as archive:
        manifest, checked = check(bundle, archive, **limits)
        for entry, info in checked:
            _verified(bundle, archive, entry, info, lambda chunk: None)
    return {"bundle": str(bundle), "project": manifest["project"], "files": len(checked),
            "bytes": sum(e["bytes"] for e, _ in checked), "renamed": sum(e["path"] != e["bundled"] for e, _ in checked),
            "entries": [{"path": e["path"], "bundled": e["bundled"], "bytes": e["bytes"]} for e, _ in checked]}


def _extract(bundle: Path, archive: zipfile.ZipFile, checked: Checked, staging: Path, progress: Progress | None
             ) -> None:
    total, done, written = sum(e["bytes"] for e, _ in checked) or 1, 0, {}
    with batch_writes():
        for entry, info in checked:
            rel = entry["path"]
            dest = staging.joinpath(*rel.split("/"))
            if os.path.lexists(dest):
                other = written.get(fold(rel), "another entry")
                raise Conflict(f"bundle {bundle.name}: entries {other!r} and {rel!r} are the same file on this file "
                               "system (they differ only in case or Unicode form); restore the bundle on a "
                               "case-sensitive file system", details={"bundle": str(bundle), "entry": rel})

            def write(handle: BinaryIO, entry: dict[str, Any] = entry, info: zipfile.ZipInfo = info,
                      dest: Path = dest) -> Path:
                _verified(bundle, archive, entry, info, handle.write)
                return dest

            try:
                atomic_write_stream(dest.parent, write, prefix=dest.name)
            except OSError as exc:
                raise ComfyVNError(f"cannot restore {rel!r} of bundle {bundle.name}: {exc.strerror or exc}; check free "
                                   "space and permissions", code="restore_failed", details={"entry": rel}) from None
            written[fold(rel)] = rel
            done += entry["bytes"]
            if progress:
                progress(done / total, rel)


def _own_project_file(bundle: Path, staging: Path, project: str) -> None:
    path = staging / PROJECT_FILE
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _bad(bundle, "it is not a project record (a JSON object)", PROJECT_FILE)
    if data.get("id") != project:
        atomic_write_json(path, {**data, "id": project})


def _move_in(staging: Path, target: Path, project: str, force: bool) -> Path | None:
    """Rename the complete staging folder into place; the replaced project's folder, if any."""
    trash = None
    with project_lock(project):
        if target.exists():
            if not force:
                raise Conflict(f"project {project!r} was created meanwhile; restore again with --force to replace it",
                               details={"project": project})
            trash = target.with_name(f".deleted-{project}-{uuid.uuid4().hex[:8]}")
            os.replace(target, trash)
        try:
            os.replace(staging, target)
        except OSError as exc:
            if trash is not None:
                os.replace(trash, target)
            raise ComfyVNError(f"cannot move the restored project into {target}: {exc.strerror or exc}",
                               code="restore_failed", details={"project": project}) from None
    return trash


def restore(bundle: Path, project: str | None = None, *, force: bool = False, progress: Progress | None = None,
            **limits: int) -> dict[str, Any]:
    """Restore ``bundle`` as project ``project`` (default: the bundle's own id). An existing project
    is refused (409) unless ``force``, which replaces it once the new folder is complete."""
    bundle = Path(bundle)
    with _open(bundle) as archive:
        manifest, checked = check(bundle, archive, **limits)
        project = check_id(project or str(manifest["project"].get("id")), "project")
        target = project_dir(project)
        if target.exists() and not force:
            raise Conflict(f"project {project!r} already exists: restore under another id with --project, or "
                           "replace it with --force", details={"project": project})
        staging = runtime_paths.workspaces_dir() / f".restore-{project}-{uuid.uuid4().hex[:8]}"
        trash = None
        try:
            staging.mkdir(parents=True)
            _extract(bundle, archive, checked, staging, progress)
            _own_project_file(bundle, staging, project)
            trash = _move_in(staging, target, project, force)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    modder_hooks.emit("on_project_changed", {"project": project, "kind": "project", "id": project,
                                             "action": "updated" if trash is not None else "created"})
    return {"project": project, "path": str(target), "files": len(checked), "replaced": trash is not None,
            "bytes": sum(e.get("original_bytes", e["bytes"]) for e, _ in checked), "from": manifest["project"]}
