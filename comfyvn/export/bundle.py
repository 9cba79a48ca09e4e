"""Project bundles: one deterministic zip holding a whole project folder, for sharing.

    <name>.zip
        project.json, scenes/, characters/, timelines/, worlds/, worldlines/, roleplay/, ...
        assets/<file> and assets/<file>.asset.json, assets/.previews/
        bundle_manifest.json     format, project, every entry (path, bundled path, bytes, sha256), renames

Every file of the project folder goes in except derived data (hidden names such as ``.index/``
and temp files; the asset previews are kept) and what is skipped: symbolic links, special files,
files outside the project and ``*.corrupt-*`` copies. Paths are made portable
(:mod:`comfyvn.export.bundle_names`); a JSON file whose strings name a renamed file (a sidecar's
``path``) is rewritten to match, and the manifest records each change. Entries are sorted and
written like the publish archive (fixed date and permissions), so the same project gives the same
bytes. :mod:`comfyvn.export.bundle_restore` reads a bundle back into a project.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from comfyvn.assets.paths import SIDECAR_SUFFIX, read_regular
from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes, atomic_write_stream, dumps
from comfyvn.export.bundle_names import plan_paths, reasons
from comfyvn.export.publish import _entry
from comfyvn.projects.paths import project_dir
from comfyvn.projects.store import get_project

log = logging.getLogger(__name__)

FORMAT = "comfyvn.bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle_manifest.json"
KEPT_HIDDEN = ("assets/.previews/",)  # derived, but sidecars name them: kept so thumbnails survive
CORRUPT_RE = re.compile(r"\.corrupt-\d+(?:-\d+)?$")
Progress = Callable[[float, str], None]


def excluded(rel: str) -> bool:
    """Whether a project-relative path is derived data left out of bundles (a hidden name)."""
    for keep in KEPT_HIDDEN:
        if (rel + "/").startswith(keep):
            rel = (rel + "/")[len(keep):]
    return any(part.startswith(".") for part in rel.split("/") if part)


def build_log_path() -> Path:
    return runtime_paths.log_dir() / "export" / "build.log"


@dataclass
class Plan:
    project: dict[str, str]
    root: Path
    files: list[tuple[str, Path, int]]  # (project-relative path, file, bytes), sorted
    names: dict[str, str]  # project-relative path -> bundled path
    skipped: list[dict[str, str]] = field(default_factory=list)
    excluded: int = 0

    def renames(self) -> list[dict[str, Any]]:
        return [{"from": rel, "to": self.names[rel], "reasons": reasons(rel, self.names[rel])}
                for rel, _, _ in self.files if self.names[rel] != rel]


def _collect(root: Path) -> tuple[list[tuple[str, Path, int]], list[dict[str, str]], int]:
    real_root = root.resolve()
    files, skipped, hidden = [], [], 0
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        prefix = "" if here == root else here.relative_to(root).as_posix() + "/"
        kept = []
        for name in sorted(dirs):
            if excluded(prefix + name):
                hidden += 1
            elif (here / name).is_symlink():
                skipped.append({"path": prefix + name, "reason": "symbolic link (not followed)"})
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            rel, path = prefix + name, here / name
            reason = None
            if excluded(rel):
                hidden += 1
                continue
            if path.is_symlink():
                reason = "symbolic link"
            elif not path.is_file():
                reason = "not a regular file"
            elif not path.resolve().is_relative_to(real_root):
                reason = "outside the project"
            elif CORRUPT_RE.search(name):
                reason = "an unreadable copy moved aside (*.corrupt-*)"
            if reason:
                skipped.append({"path": rel, "reason": reason})
            else:
                files.append((rel, path, path.stat().st_size))
    return sorted(files), sorted(skipped, key=lambda s: s["path"]), hidden


def plan(project: str) -> Plan:
    """What a bundle of ``project`` holds (404 for an unknown project); reads no file content."""
    record = get_project(project)["data"]
    root = project_dir(project)
    files, skipped, hidden = _collect(root)
    names = plan_paths([rel for rel, _, _ in files], reserved=[MANIFEST])
    name = record.get("name") if isinstance(record, dict) and isinstance(record.get("name"), str) else project
    return Plan({"id": project, "name": name}, root, files, names, skipped, hidden)


def plan_summary(found: Plan) -> dict[str, Any]:
    """The dry-run answer: entries with sizes, renames, skipped files and totals."""
    entries = sorted(({"path": rel, "bundled": found.names[rel], "bytes": size} for rel, _, size in found.files),
                     key=lambda e: e["bundled"])
    renames = found.renames()
    return {"project": found.project, "entries": entries, "renames": renames, "skipped": found.skipped,
            "totals": {"files": len(entries), "bytes": sum(e["bytes"] for e in entries), "renamed": len(renames),
                       "skipped": len(found.skipped), "excluded": found.excluded}}


# -- rewriting the strings that name renamed files -----------------------------------------------

def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _swap(value: Any, mapping: dict[str, str], pointer: str, changes: list[dict[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _swap(v, mapping, f"{pointer}/{_pointer_token(k)}", changes) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, mapping, f"{pointer}/{i}", changes) for i, v in enumerate(value)]
    if isinstance(value, str) and value in mapping:
        changes.append({"pointer": pointer, "from": value, "to": mapping[value]})
        return mapping[value]
    return value


def rewrite_json(data: bytes, mapping: dict[str, str]) -> tuple[bytes, list[dict[str, str]]] | None:
    """``data`` with every string equal to a key of ``mapping`` replaced, and the changes made
    (JSON pointers); ``None`` when nothing changes or the file is not canonical JSON as the store
    writes it (rewriting it could not be undone byte for byte)."""
    try:
        value = json.loads(data)
        if dumps(value).encode("utf-8") != data:
            return None
        changes: list[dict[str, str]] = []
        new = _swap(value, mapping, "", changes)
    except (ValueError, RecursionError):
        return None
    return (dumps(new).encode("utf-8"), changes) if changes else None


def _mappings(found: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """Renamed files as project-relative paths, and those under assets/ as asset-relative paths."""
    renamed = {rel: new for rel, new in found.names.items() if rel != new}
    in_assets = {rel[7:]: new[7:] for rel, new in renamed.items() if rel.startswith("assets/")
                 and new.startswith("assets/")}
    return renamed, in_assets


# -- building ----------------------------------------------------------------------------------

def _contents(found: Plan, rel: str, path: Path, mappings: tuple[dict[str, str], dict[str, str]]
              ) -> tuple[bytes, dict[str, Any]]:
    data = read_regular(path)
    entry: dict[str, Any] = {"path": rel, "bundled": found.names[rel]}
    renamed, in_assets = mappings
    mapping = in_assets if rel.startswith("assets/") and rel.endswith(SIDECAR_SUFFIX) else renamed
    rewritten = rewrite_json(data, mapping) if mapping and rel.endswith(".json") else None
    if rewritten is not None:
        entry.update(original_bytes=len(data), original_sha256=hashlib.sha256(data).hexdigest(),
                     rewrites=rewritten[1])
        data = rewritten[0]
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    return data, entry


def _check_out(found: Plan, out: Path) -> Path:
    out = Path(out).expanduser().absolute()
    if out.resolve().is_relative_to(found.root.resolve()):
        raise InvalidInput(f"the bundle {out} would be inside the project folder it bundles; write it elsewhere",
                           code="bundle_inside_project", details={"out": str(out)})
    if out.is_dir():
        raise InvalidInput(f"{out} is a folder; give the path of the .zip file to write", code="unwritable_out",
                           details={"out": str(out)})
    return out


def build(project: str, out: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write the bundle of ``project`` to ``out`` and ``build.log``; returns the archive's size,
    digest and manifest. 404 for an unknown project, 422 when ``out`` cannot be written."""
    found = plan(project)
    out = _check_out(found, out)
    mappings = _mappings(found)
    total = sum(size for _, _, size in found.files) or 1
    entries: list[dict[str, Any]] = []
    skipped = list(found.skipped)
    by_bundled = sorted(found.files, key=lambda item: found.names[item[0]])

    stash: dict[str, Any] = {}

    def write(handle: BinaryIO) -> Path:
        done = 0
        with zipfile.ZipFile(handle, "w") as archive:
            for rel, path, size in by_bundled:
                try:
                    data, entry = _contents(found, rel, path, mappings)
                except OSError as exc:  # replaced by a link or removed since the folder was listed
                    skipped.append({"path": rel, "reason": f"unreadable: {exc.strerror or exc}"})
                    continue
                _entry(archive, entry["bundled"], data)
                entries.append(entry)
                done += size
                if progress:
                    progress(done / total, rel)
            stash["manifest"] = manifest()
            _entry(archive, MANIFEST, dumps(stash["manifest"]).encode("utf-8"))
        return out

    def manifest() -> dict[str, Any]:
        bundled = {e["path"] for e in entries}
        renames = [r for r in found.renames() if r["from"] in bundled]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "project": found.project, "entries": entries,
                "renames": renames, "skipped": sorted(skipped, key=lambda s: s["path"]),
                "totals": {"files": len(entries), "bytes": sum(e["bytes"] for e in entries),
                           "renamed": len(renames), "skipped": len(skipped)}}

    try:
        atomic_write_stream(out.parent, write, prefix=out.name)
    except OSError as exc:
        raise InvalidInput(f"cannot write the bundle {out}: {exc.strerror or exc}; choose a folder you can write to",
                           code="unwritable_out", details={"out": str(out)}) from None
    digest, size = hashlib.sha256(), 0
    with out.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    result = {"archive": str(out), "bytes": size, "sha256": digest.hexdigest(), "manifest": stash["manifest"],
              "excluded": found.excluded, "log": str(build_log_path())}
    write_build_log(result)
    log.info("Project bundled", extra={"project": project, "archive": str(out), "files": len(entries)})
    return result


def write_build_log(result: dict[str, Any]) -> None:
    """``<logs>/export/build.log``: what the last bundle holds, renames, skipped files, totals."""
    manifest = result["manifest"]
    lines = [f"comfyvn bundle {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
             f"project {manifest['project']['id']} ({manifest['project']['name']})",
             f"archive {result['archive']} {result['bytes']} bytes sha256 {result['sha256']}", ""]
    lines += [f"bundled {e['path']} -> {e['bundled']} {e['bytes']} bytes sha256 {e['sha256']}"
              + (f" ({len(e['rewrites'])} path(s) rewritten)" if e.get("rewrites") else "")
              for e in manifest["entries"]]
    lines += [f"renamed {r['from']} -> {r['to']}: {', '.join(r['reasons'])}" for r in manifest["renames"]]
    lines += [f"skipped {s['path']}: {s['reason']}" for s in manifest["skipped"]]
    totals = manifest["totals"]
    lines += ["", f"totals: {totals['files']} file(s), {totals['bytes']} bytes, {totals['renamed']} renamed, "
                  f"{totals['skipped']} skipped, {result['excluded']} derived file(s) and folder(s) left out"]
    path = build_log_path()
    try:
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "Plan", "build", "build_log_path", "excluded",
           "plan", "plan_summary", "rewrite_json"]
