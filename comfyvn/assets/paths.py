"""Where assets live and which relative paths are allowed.

    <project>/assets/                  the asset root: users may version it with git
        <folder>/<name>.<ext>          the file
        <folder>/<name>.<ext>.asset.json   its sidecar (the source of truth)
        .previews/<uid>.256.png        thumbnails and waveforms (derived, rebuildable)
    <project>/.index/assets.sqlite     the search index (derived, rebuildable)

Every path a caller gives is relative to the asset root and checked here: nothing can be read or
written outside it (``..``, absolute paths, drive letters, backslashes, NUL bytes, symlinks and
the reserved names are refused with 400).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from filelock import FileLock

from comfyvn.config import runtime_paths
from comfyvn.core.errors import BadRequest, Conflict, InvalidInput
from comfyvn.projects.paths import RESERVED, project_dir

SIDECAR_SUFFIX = ".asset.json"
PREVIEWS = ".previews"
MAX_PATH = 400
LOCK_TIMEOUT_SECONDS = 60

# asset types: a known type fixes the kind of content it must hold; others are free-form
TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$")
KINDS = {"character.portrait": "image", "character.sprite": "image", "character.expression": "image",
         "background": "image", "cg": "image", "ui": "image", "image": "image",
         "music": "audio", "sfx": "audio", "voice": "audio", "ambience": "audio", "audio": "audio"}
# where a type's files go when the caller names no path
FOLDERS = {"character": "characters", "background": "backgrounds", "cg": "cg", "ui": "ui", "music": "music",
           "sfx": "sfx", "voice": "voice", "ambience": "ambience", "image": "images", "audio": "audio"}


def asset_root(project: str) -> Path:
    return project_dir(project) / "assets"


def index_path(project: str) -> Path:
    """The SQLite search index: derived data in a hidden folder of the project, so it goes away
    with the project (delete it any time; it is rebuilt from the sidecars)."""
    return project_dir(project) / ".index" / "assets.sqlite"


def assets_lock(project: str) -> FileLock:
    """Serialises asset writes of one project across threads and processes."""
    path = runtime_paths.workspaces_dir() / ".locks" / f"{project}.assets.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS, is_singleton=True)


def check_relpath(value: object, what: str = "path") -> str:
    """``value`` as a clean POSIX path relative to the asset root, or 400 naming the problem."""
    def bad(reason: str) -> BadRequest:
        return BadRequest(f"invalid {what} {value!r}: {reason}; give a path relative to the project's asset "
                          "folder, such as 'backgrounds/beach.png'", code="unsafe_path", details={what: str(value)})

    if not isinstance(value, str) or not value.strip():
        raise bad("it is empty")
    if "\x00" in value:
        raise bad("it contains a NUL byte")
    if "\\" in value:
        raise bad("it contains a backslash (use '/')")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise bad("it is absolute")
    if len(value) > MAX_PATH:
        raise bad(f"it is longer than {MAX_PATH} characters")
    parts = PurePosixPath(value).parts
    for part in parts:
        if part in ("..", "."):
            raise bad(f"it contains '{part}'")
        if part.startswith("."):
            raise bad("it contains a hidden name (starting with '.')")
        if part.split(".", 1)[0].lower() in RESERVED or part.endswith((" ", ".")):
            raise bad(f"{part!r} is not a portable file name")
        if any(ord(c) < 32 for c in part) or any(c in '<>:"|?*' for c in part):
            raise bad(f"{part!r} contains a character Windows does not allow")
    if value.endswith(SIDECAR_SUFFIX):
        raise bad(f"names ending in {SIDECAR_SUFFIX} are sidecars")
    return "/".join(parts)


def resolve(root: Path, rel: str, what: str = "path") -> Path:
    """The file ``rel`` names under ``root``; 400 when a symlink along the way leads anywhere."""
    rel = check_relpath(rel, what)
    path = root
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            raise BadRequest(f"invalid {what} {rel!r}: {part!r} is a symbolic link; assets must be real files "
                             "inside the project's asset folder", code="unsafe_path", details={what: rel})
    return path


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``, refusing a symbolic link in its last part (the parts before it are
    checked by :func:`resolve`): ``OSError`` when it is a link or missing."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def previews_folder(root: Path) -> Path:
    """``<root>/.previews``; 400 when it is a symbolic link (previews must stay in the project)."""
    folder = root / PREVIEWS
    if folder.is_symlink():
        raise BadRequest(f"{folder} is a symbolic link; previews are only written inside the asset folder: "
                         "remove the link", code="unsafe_path", details={"path": PREVIEWS})
    return folder


def check_parents(root: Path, rel: str) -> None:
    """409 when a folder along ``rel`` is a file (``a.png/b.png``)."""
    path = root
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.exists() and not path.is_dir():
            raise Conflict(f"cannot store {rel!r}: {path.relative_to(root).as_posix()!r} is a file, not a folder",
                           details={"path": rel})


def check_type(value: object) -> str:
    if not isinstance(value, str) or not TYPE_RE.match(value) or len(value) > 64:
        raise InvalidInput(f"invalid asset type {value!r}: use lower-case words joined by '.', e.g. "
                           f"{', '.join(sorted(KINDS)[:6])}", details={"type": value})
    return value


def default_folder(asset_type: str) -> str:
    return FOLDERS.get(asset_type.split(".", 1)[0], "misc")


def safe_name(name: str, ext: str) -> str:
    """A portable file name from an uploaded one, with the extension the content says."""
    stem = PurePosixPath(name.replace("\\", "/")).name.rsplit(".", 1)[0] if name else ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:80] or "asset"
    if stem.lower() in RESERVED:
        stem += "_"
    return f"{stem}.{ext}"
