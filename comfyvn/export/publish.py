"""A deterministic archive of an exported game: the same export => the same bytes.

    <name>.zip
        game/...                      the exported game (Ren'Py's cache, saves and logs left out)
        publish_manifest.json         name, version, platforms, every file with its size and SHA-256
        platforms/<id>/README.txt     one folder per requested platform, for its launcher files

Entries are sorted, dated 1980-01-01 00:00, with fixed permissions and compression, so the
archive depends on nothing but the files. ``invoke_sdk`` then runs the Ren'Py launcher's
``distribute`` command on the game (an SDK is needed; Debian's Ren'Py has no launcher build tools).

``publish_project`` makes the store packages (Steam, itch) behind ``POST /api/export/publish``: it
exports the project, then writes one such archive per target with the entries of
``comfyvn.export.packages`` (licence manifest, provenance, icon, EULA, store build files).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import ComfyVNError, FeatureDisabled, InvalidInput, UpstreamError
from comfyvn.core.store import atomic_write_bytes
from comfyvn.export import packages

PLATFORMS = ("pc", "linux", "mac", "win", "android", "web", "steam", "itch")
SKIP = ("game/cache/", "game/saves/", "log.txt", "errors.txt", "traceback.txt", "game/tl/None/")
EPOCH = (1980, 1, 1, 0, 0, 0)


def _files(game_root: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(game_root.rglob("*")):
        rel = path.relative_to(game_root).as_posix()
        if path.is_file() and not path.is_symlink() and not rel.startswith(SKIP) and rel.startswith("game/"):
            found.append((rel, path))
    return found


def _entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3  # unix, so the permissions above are what every unzip sees
    archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def archive_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of ``(name, bytes)`` entries in the given order, depending on nothing else."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            _entry(archive, name, data)
    return buffer.getvalue()


def check_platforms(platforms: list[str] | None) -> list[str]:
    """The platform folders asked for, sorted and deduplicated (default ``pc``); InvalidInput
    naming the unknown ones."""
    chosen = sorted(dict.fromkeys(platforms or ["pc"]))
    unknown = [p for p in chosen if p not in PLATFORMS]
    if unknown:
        raise InvalidInput(f"unknown platform(s) {', '.join(unknown)}; use {', '.join(PLATFORMS)}",
                           details={"field": "platform", "platforms": unknown})
    return chosen


def check_archive_path(archive_path: Path) -> Path:
    """``archive_path`` when a zip can be written there: not an existing folder, and its nearest
    existing parent is a folder. InvalidInput otherwise."""
    path = Path(archive_path).expanduser()
    if path.is_dir():
        raise InvalidInput(f"--publish-out {path} is a folder; give the zip's file name, e.g. {path / 'game.zip'}",
                           details={"field": "publish_out", "path": str(path)})
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidInput(f"--publish-out {path} cannot be written because {parent} is a file",
                           details={"field": "publish_out", "path": str(path)})
    return path


def check_sdk(sdk: Path) -> Path:
    """``sdk`` when it is a Ren'Py SDK folder (holds ``renpy.sh``), else InvalidInput."""
    if not (Path(sdk) / "renpy.sh").is_file():
        raise InvalidInput(f"{sdk} is not a Ren'Py SDK (no renpy.sh); download one from renpy.org and pass its "
                           "folder", details={"renpy_sdk": str(sdk)})
    return Path(sdk)


def publish(game_root: Path, archive_path: Path, *, name: str, version: str = "1.0",
            platforms: list[str] | None = None) -> dict[str, Any]:
    """Write the archive of the exported game in ``game_root``; returns its manifest and digest."""
    platforms = check_platforms(platforms)
    archive_path = check_archive_path(archive_path)
    files = _files(Path(game_root))
    if not any(rel == "game/script.rpy" for rel, _ in files):
        raise InvalidInput(f"{game_root} holds no exported game (game/script.rpy is missing): export it first",
                           code="nothing_to_publish")
    contents = [(rel, path.read_bytes()) for rel, path in files]
    manifest = {"name": name, "version": version, "platforms": platforms,
                "files": [{"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for rel, data in contents]}
    entries = [*contents, ("publish_manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())]
    entries += [(f"platforms/{platform}/README.txt",
                 f"Files for the {platform} build of {name} go here (launcher, icons, store metadata).\n".encode())
                for platform in platforms]
    data = archive_bytes(entries)
    atomic_write_bytes(Path(archive_path), data)
    return {"archive": str(archive_path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "manifest": manifest}


def invoke_sdk(game_root: Path, sdk: Path, *, timeout: float = 1800) -> dict[str, Any]:
    """Run ``renpy.sh launcher distribute <game>`` of a Ren'Py SDK; 502 naming the failure."""
    launcher = check_sdk(sdk) / "renpy.sh"
    try:
        done = subprocess.run([str(launcher), "launcher", "distribute", str(game_root)], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise UpstreamError(f"the Ren'Py launcher did not finish within {timeout:g} s", code="sdk_timeout") from None
    if done.returncode != 0:
        raise UpstreamError(f"the Ren'Py launcher failed (exit {done.returncode}): {done.stderr.strip()[-300:]}",
                            code="sdk_failed")
    return {"ok": True, "output": done.stdout[-2000:]}


# -- store packages: POST /api/export/publish ---------------------------------------------------

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_run_lock = threading.Lock()  # one publish at a time: runs share build folders and the log
log = logging.getLogger(__name__)


def default_publish_out(project: str) -> Path:
    return runtime_paths.data_dir() / "exports" / "publish" / project


def resolve_targets(targets: list[str] | None) -> list[str]:
    """The targets to package: the asked ones (each with its flag on), or every enabled one."""
    from comfyvn.config import feature_flags

    if targets is None:
        chosen = [t for t in packages.TARGETS if feature_flags.is_enabled(packages.TARGET_FLAGS[t])]
        if not chosen:
            error = FeatureDisabled(packages.TARGET_FLAGS[packages.TARGETS[0]])
            error.details["flags"] = list(packages.TARGET_FLAGS.values())
            raise error
        return chosen
    unknown = sorted({t for t in targets if t not in packages.TARGET_FLAGS}, key=str)
    if unknown or not targets:
        what = f"unknown target(s) {', '.join(map(str, unknown))}" if unknown else "no target given"
        raise InvalidInput(f"{what}; targets are {', '.join(packages.TARGETS)}", code="unknown_target",
                           details={"field": "targets", "unknown": unknown, "allowed": list(packages.TARGETS)})
    chosen = [t for t in packages.TARGETS if t in targets]
    for target in chosen:
        if not feature_flags.is_enabled(packages.TARGET_FLAGS[target]):
            raise FeatureDisabled(packages.TARGET_FLAGS[target])
    return chosen


def publish_project(project: str = "default", *, targets: list[str] | None = None, name: str | None = None,
                    version: str = "1.0", seed: int | str = 0, out: str | Path | None = None,
                    icon: str | Path | None = None, eula: str | Path | None = None,
                    license_path: str | Path | None = None, dry_run: bool = False,
                    lint: bool | None = None) -> dict[str, Any]:
    """Export ``project`` to Ren'Py under ``<out>/build`` and write one deterministic zip per
    target (``<slug>-<version>-<target>.zip`` in ``out``); a dry run writes nothing and reports
    what each zip would change. Logged to ``<logs>/export/publish.log``; emits
    ``on_export_publish_preview`` or ``on_export_publish_complete``."""
    with _run_lock:
        try:
            result = _publish(project, targets=targets, name=name, version=version, seed=seed, out=out, icon=icon,
                              eula=eula, license_path=license_path, dry_run=dry_run, lint=lint)
        except Exception as exc:
            code = exc.code if isinstance(exc, ComfyVNError) else type(exc).__name__
            _log_line(project, targets, f"failed: {code}", {}, error=str(exc))
            log.warning("publish of %s failed: %s", project, exc)
            raise
        shas = {t: p["sha256"] for t, p in result["packages"].items()}
        _log_line(project, result["targets"], "preview" if dry_run else "published", shas)
        log.info("publish of %s (%s): %s", project, ", ".join(result["targets"]),
                 "preview" if dry_run else ", ".join(p["archive"] for p in result["packages"].values()))
    if dry_run:
        changes = {t: {k: (len(v) if isinstance(v, list) else v) for k, v in p["changes"].items()}
                   for t, p in result["packages"].items()}
        modder_hooks.emit("on_export_publish_preview",
                          {"project": project, "targets": result["targets"], "changes": changes})
    else:
        archives = [{"target": t, "path": p["archive"], "sha256": p["sha256"], "bytes": p["bytes"]}
                    for t, p in result["packages"].items()]
        modder_hooks.emit("on_export_publish_complete",
                          {"project": project, "targets": result["targets"], "archives": archives})
    return result


def _publish(project: str, *, targets: list[str] | None, name: str | None, version: str, seed: int | str,
             out: str | Path | None, icon: Any, eula: Any, license_path: Any, dry_run: bool,
             lint: bool | None) -> dict[str, Any]:
    from comfyvn.config import feature_flags
    from comfyvn.export.renpy_names import ident
    from comfyvn.export.service import build_project, export_renpy
    from comfyvn.projects.store import require_project

    require_project(project)
    chosen = resolve_targets(targets)
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise InvalidInput(f"version {version!r} must be 1-64 letters, digits, '.', '_', '+' or '-' (e.g. 1.0.2)",
                           details={"field": "version"})
    extras = packages.read_extras(icon=icon, eula=eula, license_path=license_path)
    folder = Path(out).expanduser() if out else default_publish_out(project)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"out: {folder} is a file, not a folder", details={"field": "out", "path": str(folder)})
    build_dir = folder / "build"
    exported = export_renpy(project, out=build_dir, name=name, version=version, seed=seed, dry_run=dry_run,
                            lint=False if dry_run else lint)
    report = exported.get("lint")
    if report and not report["ok"]:
        raise InvalidInput(f"Ren'Py's lint found {len(report['errors'])} error(s) in the export; fix them, or "
                           "publish with \"lint\": false", code="lint_failed", details={"errors": report["errors"]})
    manifest = exported["manifest"]
    paths = [p for p in manifest["files"] if p.startswith("game/") and not p.startswith(SKIP)]
    if dry_run:  # the files the export would write, built in memory
        built = build_project(project, name=manifest["name"], version=version, seed=seed)
        game = {p: built.files[p] for p in paths}
    else:
        game = {p: (build_dir / p).read_bytes() for p in paths}
    if "game/script.rpy" not in game:
        raise InvalidInput("the export holds no game/script.rpy: there is nothing to publish; add scenes and "
                           "export again", code="nothing_to_publish")
    title = manifest["name"]
    license_manifest, provenance = packages.asset_records(project, manifest["assets"])
    flags = {flag: feature_flags.is_enabled(flag) for flag in (packages.PUBLISH_FLAG, *packages.TARGET_FLAGS.values())}
    slug = ident(title, "game").replace("_", "-").strip("-") or "game"
    built_packages = {}
    for target in chosen:
        entries = packages.package(target, game=game, name=title, version=version, build_name=ident(title, "game"),
                                   license_manifest=license_manifest, provenance=provenance, extras=extras,
                                   flags=flags)
        data = archive_bytes(entries.items())
        built_packages[target] = (folder / f"{slug}-{version}-{target}.zip", entries, data)
    result: dict[str, Any] = {
        "project": project, "dry_run": dry_run, "targets": chosen, "out": str(folder),
        "export": {"out": str(build_dir), "changes": exported["changes"], "lint": exported.get("lint"),
                   **({"diff": exported["diff"]} if dry_run else {})},
        "license": {"assets": len(license_manifest["assets"]), "unlicensed": license_manifest["unlicensed"]},
        "placeholders": sorted(entry for entry, _, placeholder in extras.values() if placeholder),
        "packages": {}}
    for target, (path, entries, data) in built_packages.items():
        answer = {"archive": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if dry_run:
            answer["changes"] = archive_diff(entries, path)
        else:
            atomic_write_bytes(path, data)  # whole or not at all
        result["packages"][target] = answer
    return result


def archive_diff(entries: dict[str, bytes], archive: Path) -> dict[str, Any]:
    """What writing ``entries`` over ``archive`` would change, by entry name and SHA-256."""
    current: dict[str, str] = {}
    state = "missing"
    if archive.is_file():
        try:
            with zipfile.ZipFile(archive) as existing:
                current = {info.filename: hashlib.sha256(existing.read(info)).hexdigest()
                           for info in existing.infolist() if not info.is_dir()}
            state = "present"
        except (zipfile.BadZipFile, OSError):
            state = "unreadable"  # replaced as a whole by the next run
    new = {name: hashlib.sha256(data).hexdigest() for name, data in entries.items()}
    return {"existing": state,
            "added": sorted(n for n in new if n not in current),
            "changed": sorted(n for n in new if n in current and current[n] != new[n]),
            "removed": sorted(n for n in current if n not in new),
            "unchanged": sum(1 for n in new if current.get(n) == new[n])}


def _log_line(project: str, targets: Any, result: str, archives: dict[str, str], *, error: str = "") -> None:
    """One JSON line per run in ``<logs>/export/publish.log``; a log that cannot be written is reported, not fatal."""
    line = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "project": project, "targets": targets, "result": result, "archives": archives}
    if error:
        line["error"] = error[:500]
    path = runtime_paths.log_dir() / "export" / "publish.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True, default=str) + "\n")
    except OSError:
        log.exception("could not write %s", path)
