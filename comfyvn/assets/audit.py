"""Audit of an asset folder against its ``.asset.json`` sidecars, and the conservative repairs
``tools/assets_enforcer.py`` offers (see docs/assets-enforcer.md).

:func:`scan` only reads: it walks the folder (hidden names such as ``.previews`` skipped, links
not followed) and returns an :class:`Audit` whose findings say what is wrong. :func:`plan_metadata`
derives tags (folder names) and licences (``LICENSE`` files) for assets that lack them;
:func:`fill_metadata` and :func:`fix` write, through the project's registry when there is one.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from comfyvn.assets import paths
from comfyvn.assets.media import sniff_file
from comfyvn.assets.registry import REQUIRED_FIELDS as REQUIRED
from comfyvn.core.errors import BadRequest, ComfyVNError
from comfyvn.core.store import atomic_write_json

# finding kind -> severity; errors fail the audit, warnings only with --strict
SEVERITY = {"missing_sidecar": "error", "stale_hash": "error", "orphan_sidecar": "error",
            "unreadable_sidecar": "error", "path_mismatch": "error", "duplicate_uid": "error",
            "unreadable_file": "error", "missing_metadata": "warning", "symlink": "warning"}
# folder names that say nothing about the content, left out of derived tags
GENERIC_FOLDERS = frozenset({"asset", "assets", "misc", "other", "others", "file", "files", "media", "image", "images",
                             "img", "imgs", "audio", "sound", "sounds", "new", "tmp", "temp", "upload", "uploads",
                             "import", "imported", "incoming"})
LICENSE_FILES = frozenset({"license", "license.txt", "license.md", "licence", "licence.txt", "licence.md"})
MAX_TAG, MAX_LICENSE = 64, 200
Progress = Callable[[int, int, str], None]


@dataclass
class Finding:
    kind: str
    path: str  # relative to the asset root: the media file, or the sidecar for sidecar-only problems
    detail: str
    uid: str | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail, "severity": self.severity,
                "uid": self.uid}


@dataclass
class Audit:
    root: Path
    findings: list[Finding] = field(default_factory=list)
    media_files: int = 0
    sidecars: dict[str, dict[str, Any]] = field(default_factory=dict)  # sidecar rel path -> readable sidecar
    moved: dict[str, str] = field(default_factory=dict)  # orphan sidecar rel -> unregistered file with its hash

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def counts(self) -> dict[str, int]:
        kinds = Counter(f.kind for f in self.findings)
        severities = Counter(f.severity for f in self.findings)
        return {"media_files": self.media_files, "sidecars": len(self.sidecars),
                "errors": severities["error"], "warnings": severities["warning"],
                **{kind: kinds[kind] for kind in sorted(SEVERITY)}}

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "counts": self.counts(), "findings": [f.to_dict() for f in self.findings]}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _walk(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Sorted relative paths of (plain files, sidecars, links) under ``root``, hidden names skipped."""
    files, sidecars, links = [], [], []
    for folder, dirs, names in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        links += [prefix + d for d in dirs if not d.startswith(".") and (Path(folder) / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(folder) / d).is_symlink())
        for name in sorted(n for n in names if not n.startswith(".")):
            rel = prefix + name
            if (Path(folder) / name).is_symlink():
                links.append(rel)
            elif name.endswith(paths.SIDECAR_SUFFIX):
                sidecars.append(rel)
            else:
                files.append(rel)
    return files, sidecars, sorted(links)


def _load(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The sidecar, or None and why it cannot be used."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    except orjson.JSONDecodeError as exc:
        return None, f"is not JSON ({exc})"
    if not isinstance(data, dict):
        return None, "is not a JSON object"
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        return None, f"lacks {', '.join(missing)}"
    if not (isinstance(data["uid"], str) and isinstance(data["path"], str) and isinstance(data["hash"], str)
            and isinstance(data["bytes"], int) and isinstance(data.get("tags", []), list)):
        return None, "has fields of the wrong type (uid, path and hash are strings, bytes a number, tags a list)"
    return data, ""


def scan(root: Path, *, progress: Progress | None = None) -> Audit:
    """Read-only audit of the asset folder ``root`` (a missing folder is an empty, clean one)."""
    audit = Audit(Path(root))
    root = audit.root
    if not root.is_dir():
        return audit
    files, sidecar_paths, links = _walk(root)
    has_sidecar = {rel[: -len(paths.SIDECAR_SUFFIX)] for rel in sidecar_paths}
    total, done = len(files) + len(sidecar_paths), 0
    add = audit.findings.append
    for rel in links:
        add(Finding("symlink", rel, "is a symbolic link; the registry only accepts real files inside the asset "
                                    "folder, so it is not audited"))
    unregistered: dict[str, int] = {}  # media file without sidecar -> its size
    for rel in files:
        done += 1
        progress and progress(done, total, rel)
        if rel in has_sidecar:
            continue
        try:
            sniffed = sniff_file(root / rel)
        except OSError as exc:
            add(Finding("unreadable_file", rel, f"cannot be read ({exc.strerror or exc})"))
            continue
        if sniffed is not None:
            audit.media_files += 1
            unregistered[rel] = (root / rel).stat().st_size
            add(Finding("missing_sidecar", rel, f"{sniffed.mime} file without {Path(rel).name}{paths.SIDECAR_SUFFIX}; "
                                                "register it (--fix) or delete it"))
    uids: dict[str, list[str]] = {}
    for side_rel in sidecar_paths:
        done += 1
        progress and progress(done, total, side_rel)
        rel = side_rel[: -len(paths.SIDECAR_SUFFIX)]
        sidecar, why = _load(root / side_rel)
        if sidecar is None:
            add(Finding("unreadable_sidecar", side_rel, f"the sidecar {why}; restore it from version control, or "
                                                        "delete it and register the file again"))
            continue
        audit.sidecars[side_rel], uid, target = sidecar, sidecar["uid"], root / rel
        uids.setdefault(uid, []).append(rel)
        if not target.is_file():
            add(Finding("orphan_sidecar", side_rel, f"its file {rel} is gone; remove the asset (--fix) or restore "
                                                    "the file", uid))
            continue
        audit.media_files += 1
        if sidecar["path"] != rel:
            add(Finding("path_mismatch", rel, f"the sidecar says path {sidecar['path']!r} (moved or copied by hand "
                                              "with its sidecar?); --fix rewrites the path", uid))
        size = target.stat().st_size
        if size != sidecar["bytes"] or sha256_file(target) != sidecar["hash"].lower():
            add(Finding("stale_hash", rel, f"the file changed since it was registered ({size} bytes now, "
                                           f"{sidecar['bytes']} recorded); restore it, or remove the asset and "
                                           "register the file again", uid))
        lacking = [what for what, ok in (("license", sidecar.get("license")), ("tags", sidecar.get("tags"))) if not ok]
        if lacking:
            add(Finding("missing_metadata", rel, f"no {' and no '.join(lacking)}; --fill-metadata derives them "
                                                 "from folders and LICENSE files", uid))
    for uid, rels in sorted(uids.items()):
        if len(rels) > 1:
            add(Finding("duplicate_uid", rels[1], f"asset {uid} has sidecars at {', '.join(rels)}; keep one copy "
                                                  "(the index holds one asset per uid)", uid))
    _match_moves(audit, unregistered)
    audit.findings.sort(key=lambda f: (f.path, f.kind))
    return audit


def _match_moves(audit: Audit, unregistered: dict[str, int]) -> None:
    """Pair orphan sidecars with unregistered files of the same content (a file moved without its
    sidecar), so --fix can move the sidecar instead of losing its tags, licence and provenance."""
    orphans = {f.path: audit.sidecars[f.path] for f in audit.of_kind("orphan_sidecar")}
    by_size: dict[int, list[str]] = {}
    [by_size.setdefault(size, []).append(rel) for rel, size in unregistered.items()]
    hashes: dict[str, str] = {}
    for side_rel, sidecar in sorted(orphans.items()):
        for rel in (r for r in by_size.get(sidecar["bytes"], []) if r not in audit.moved.values()):
            if rel not in hashes:
                hashes[rel] = sha256_file(audit.root / rel)
            if hashes[rel] == sidecar["hash"].lower():
                audit.moved[side_rel] = rel
                for finding in audit.findings:
                    if (finding.kind, finding.path) == ("orphan_sidecar", side_rel):
                        finding.detail = f"its file was moved to {rel} (same content); --fix moves the sidecar"
                    elif (finding.kind, finding.path) == ("missing_sidecar", rel):
                        finding.detail = f"moved here without its sidecar {side_rel}; --fix moves the sidecar"
                break


# -- metadata ---------------------------------------------------------------------------------

def derived_tags(rel: str) -> list[str]:
    """Tags from the folders of ``rel``: lower-case names, generic ones (misc, images...) left out."""
    tags = set()
    for part in rel.split("/")[:-1]:
        tag = " ".join(part.split()).lower()
        if tag and tag not in GENERIC_FOLDERS and len(tag) <= MAX_TAG and tag.isprintable():
            tags.add(tag)
    return sorted(tags)


def license_for(root: Path, rel: str, cache: dict[str, str | None] | None = None) -> str | None:
    """First non-empty line of a LICENSE file in the folder of ``rel`` or the nearest parent
    folder inside ``root``; None when there is none (or it is empty, binary or too long)."""
    cache = {} if cache is None else cache
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    while True:
        if folder not in cache:
            cache[folder] = _license_in(root / folder if folder else root)
        if cache[folder] is not None or not folder:
            return cache[folder]
        folder = folder.rsplit("/", 1)[0] if "/" in folder else ""


def _license_in(folder: Path) -> str | None:
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.lower() in LICENSE_FILES and p.is_file()
                       and not p.is_symlink())
        if not names:
            return None
        with open(folder / names[0], "rb") as handle:
            text = handle.read(4096).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if 0 < len(line) <= MAX_LICENSE and line.isprintable() else None


def plan_metadata(audit: Audit) -> list[dict[str, Any]]:
    """``[{path, uid, sidecar, tags?, license?}]``: values to fill for assets lacking them (only
    missing values: an asset with tags keeps them). Sidecars of missing files, at the wrong path or
    sharing a uid are left out (fix those first)."""
    skip = {f.path for f in audit.findings if f.kind in ("orphan_sidecar", "path_mismatch", "duplicate_uid")}
    shared = {f.uid for f in audit.of_kind("duplicate_uid")}
    cache: dict[str, str | None] = {}
    plan = []
    for side_rel, sidecar in sorted(audit.sidecars.items()):
        rel = side_rel[: -len(paths.SIDECAR_SUFFIX)]
        if side_rel in skip or rel in skip or sidecar["uid"] in shared:
            continue
        change: dict[str, Any] = {}
        if not sidecar.get("tags") and (tags := derived_tags(rel)):
            change["tags"] = tags
        if not sidecar.get("license") and (found := license_for(audit.root, rel, cache)):
            change["license"] = found
        if change:
            plan.append({"path": rel, "uid": sidecar["uid"], "sidecar": side_rel, **change})
    return plan


def _write_sidecar(dest: Path, sidecar: dict[str, Any], **changes: Any) -> None:
    """Rewrite a sidecar by hand (no registry): the changes, version bumped, updated_at now."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    version = sidecar.get("version")
    atomic_write_json(dest, {**sidecar, **changes, "updated_at": now,
                             "version": version + 1 if isinstance(version, int) else 2})


def fill_metadata(audit: Audit, plan: list[dict[str, Any]], *, project: str | None) -> list[dict[str, Any]]:
    """Apply ``plan``: through ``registry(project).update_many`` (events fire, the index follows),
    or, for a folder outside any project, by rewriting the sidecars. Returns one action per change."""
    actions = []
    if project is None:
        for item in plan:
            changes = {k: item[k] for k in ("tags", "license") if k in item}
            _write_sidecar(audit.root / item["sidecar"], audit.sidecars[item["sidecar"]], **changes)
            actions.append({"action": "fill_metadata", "path": item["path"], "uid": item["uid"], **changes})
        return actions
    from comfyvn.assets.registry import registry

    reg = registry(project)
    reg.open()
    reg.rebuild_index()  # so sidecars edited by hand are what gets updated, not an older index copy
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in plan:
        groups.setdefault((tuple(item.get("tags", ())), item.get("license")), []).append(item)
    for (tags, license), items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        changes: dict[str, Any] = {k: v for k, v in (("tags", list(tags)), ("license", license)) if v}
        try:
            reg.update_many([item["uid"] for item in items], **changes)
            outcome = {}
        except ComfyVNError as exc:
            outcome = {"error": exc.message}
        actions += [{"action": "fill_metadata", "path": i["path"], "uid": i["uid"], **changes, **outcome}
                    for i in items]
    return actions


# -- repairs ----------------------------------------------------------------------------------

def fix(audit: Audit, project: str) -> list[dict[str, Any]]:
    """Conservative repairs through ``registry(project)``: move sidecars of moved files, rewrite
    wrong ``path`` fields, rebuild the index from the sidecars, remove assets whose file is gone,
    register unregistered media files. Stale hashes, unreadable sidecars and duplicate uids are
    left for a person to decide. Returns one action per step taken or skipped."""
    from comfyvn.assets import previews
    from comfyvn.assets.registry import registry

    reg = registry(project)
    reg.open()
    actions: list[dict[str, Any]] = []
    shared = {f.uid for f in audit.of_kind("duplicate_uid")}
    moved: set[str] = set()
    with paths.assets_lock(project):
        for side_rel, rel in sorted(audit.moved.items()):
            sidecar = audit.sidecars[side_rel]
            if sidecar["uid"] in shared:
                continue
            moved |= {side_rel, rel}
            _write_sidecar(paths.sidecar_of(audit.root / rel), sidecar, path=rel)
            (audit.root / side_rel).unlink(missing_ok=True)
            actions.append({"action": "move_sidecar", "path": rel, "uid": sidecar["uid"], "from": sidecar["path"]})
        for finding in audit.of_kind("path_mismatch"):
            if finding.uid in shared:
                actions.append({"action": "skipped", "path": finding.path, "uid": finding.uid,
                                "reason": "the uid has several sidecars; keep one copy first"})
                continue
            side_rel = finding.path + paths.SIDECAR_SUFFIX
            _write_sidecar(audit.root / side_rel, audit.sidecars[side_rel], path=finding.path)
            actions.append({"action": "rewrite_path", "path": finding.path, "uid": finding.uid})
    count = reg.rebuild_index()
    actions.append({"action": "rebuild_index", "path": "", "uid": None, "assets": count})
    for finding in audit.of_kind("orphan_sidecar"):
        if finding.path in moved:
            continue
        row = reg.index.get(finding.uid or "")
        if row is None or row["path"] + paths.SIDECAR_SUFFIX != finding.path or finding.uid in shared:
            actions.append({"action": "skipped", "path": finding.path, "uid": finding.uid,
                            "reason": "the sidecar's path field does not match where it lies; delete it by hand"})
            continue
        try:
            reg.remove(finding.uid, keep_file=True)
            actions.append({"action": "remove_asset", "path": finding.path, "uid": finding.uid})
        except ComfyVNError as exc:
            actions.append({"action": "skipped", "path": finding.path, "uid": finding.uid, "reason": exc.message})
    for finding in audit.of_kind("missing_sidecar"):
        if finding.path in moved:
            continue
        try:
            sidecar, created = reg.register(finding.path)
        except ComfyVNError as exc:
            actions.append({"action": "skipped", "path": finding.path, "uid": None, "reason": exc.message})
            continue
        if created:
            actions.append({"action": "register", "path": finding.path, "uid": sidecar["uid"]})
        else:
            actions.append({"action": "skipped", "path": finding.path, "uid": sidecar["uid"],
                            "reason": f"same content as asset {sidecar['uid']} at {sidecar['path']}; delete the copy"})
    previews.wait_idle()
    return actions


# -- one run ----------------------------------------------------------------------------------

def run(root: Path, project: str | None, *, repair: bool = False, fill: bool = False, apply: bool = True,
        progress: Progress | None = None) -> dict[str, Any]:
    """Audit, then (``apply``) repair and fill metadata and audit again. The report:
    ``{root, project, mode, counts, findings, actions, metadata}``; ``metadata`` lists the planned
    fills, ``actions`` what was done. Repairs need a project (400 otherwise)."""
    if repair and apply and project is None:
        raise BadRequest("--fix needs a project (it registers files and updates the index): use --project ID, "
                         "or --assets with a project's asset folder")
    audit = scan(root, progress=progress)
    actions: list[dict[str, Any]] = []
    if repair and apply and audit.counts()["errors"]:
        actions += fix(audit, project)  # type: ignore[arg-type]
        audit = scan(root, progress=progress)
    plan = plan_metadata(audit) if fill else []
    if plan and apply:
        actions += fill_metadata(audit, plan, project=project)
        audit = scan(root, progress=progress)
    mode = "apply" if apply and (repair or fill) else "dry-run"
    return {**audit.to_dict(), "project": project, "mode": mode, "actions": actions,
            "metadata": [{k: v for k, v in item.items() if k != "sidecar"} for item in plan]}


def exit_code(report: dict[str, Any], *, strict: bool = False) -> int:
    """0 clean (warnings allowed unless ``strict``), 1 when findings remain."""
    counts = report["counts"]
    return 1 if counts["errors"] or (strict and counts["warnings"]) else 0
