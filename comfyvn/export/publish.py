"""A deterministic archive of an exported game: the same export => the same bytes.

    <name>.zip
        game/...                      the exported game (Ren'Py's cache, saves and logs left out)
        publish_manifest.json         name, version, platforms, every file with its size and SHA-256
        platforms/<id>/README.txt     one folder per requested platform, for its launcher files

Entries are sorted, dated 1980-01-01 00:00, with fixed permissions and compression, so the
archive depends on nothing but the files. ``invoke_sdk`` then runs the Ren'Py launcher's
``distribute`` command on the game (an SDK is needed; Debian's Ren'Py has no launcher build tools).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from comfyvn.core.errors import InvalidInput, UpstreamError
from comfyvn.core.store import atomic_write_bytes

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


def publish(game_root: Path, archive_path: Path, *, name: str, version: str = "1.0",
            platforms: list[str] | None = None) -> dict[str, Any]:
    """Write the archive of the exported game in ``game_root``; returns its manifest and digest."""
    platforms = sorted(dict.fromkeys(platforms or ["pc"]))
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise InvalidInput(f"unknown platform(s) {', '.join(unknown)}; use {', '.join(PLATFORMS)}",
                           details={"platforms": unknown})
    files = _files(Path(game_root))
    if not any(rel == "game/script.rpy" for rel, _ in files):
        raise InvalidInput(f"{game_root} holds no exported game (game/script.rpy is missing): export it first",
                           code="nothing_to_publish")
    contents = [(rel, path.read_bytes()) for rel, path in files]
    manifest = {"name": name, "version": version, "platforms": platforms,
                "files": [{"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for rel, data in contents]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for rel, data in contents:
            _entry(archive, rel, data)
        _entry(archive, "publish_manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        for platform in platforms:
            _entry(archive, f"platforms/{platform}/README.txt",
                   f"Files for the {platform} build of {name} go here (launcher, icons, store metadata).\n".encode())
    data = buffer.getvalue()
    atomic_write_bytes(Path(archive_path), data)
    return {"archive": str(archive_path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "manifest": manifest}


def invoke_sdk(game_root: Path, sdk: Path, *, timeout: float = 1800) -> dict[str, Any]:
    """Run ``renpy.sh launcher distribute <game>`` of a Ren'Py SDK; 502 naming the failure."""
    launcher = Path(sdk) / "renpy.sh"
    if not launcher.is_file():
        raise InvalidInput(f"{sdk} is not a Ren'Py SDK (no renpy.sh); download one from renpy.org and pass its "
                           "folder", details={"renpy_sdk": str(sdk)})
    try:
        done = subprocess.run([str(launcher), "launcher", "distribute", str(game_root)], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise UpstreamError(f"the Ren'Py launcher did not finish within {timeout:g} s", code="sdk_timeout") from None
    if done.returncode != 0:
        raise UpstreamError(f"the Ren'Py launcher failed (exit {done.returncode}): {done.stderr.strip()[-300:]}",
                            code="sdk_failed")
    return {"ok": True, "output": done.stdout[-2000:]}
