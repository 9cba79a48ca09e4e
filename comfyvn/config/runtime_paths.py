"""Where ComfyVN keeps logs, configuration, user data and caches.

Defaults come from platformdirs (per-user directories of the operating system). Environment
overrides, checked on every call so tests and launchers can redirect them:

* ``COMFYVN_RUNTIME_ROOT``: one folder holding ``logs/``, ``config/``, ``data/`` and ``cache/``;
* ``COMFYVN_LOG_DIR``, ``COMFYVN_CONFIG_DIR``, ``COMFYVN_DATA_DIR``, ``COMFYVN_CACHE_DIR``: one each,
  winning over the root.

Nothing here touches the disk at import time; :func:`ensure_dirs` creates the folders.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "ComfyVN"

_KINDS = {
    "logs": ("COMFYVN_LOG_DIR", platformdirs.user_log_dir),
    "config": ("COMFYVN_CONFIG_DIR", platformdirs.user_config_dir),
    "data": ("COMFYVN_DATA_DIR", platformdirs.user_data_dir),
    "cache": ("COMFYVN_CACHE_DIR", platformdirs.user_cache_dir),
}


def _resolve(kind: str) -> Path:
    env_name, platform_default = _KINDS[kind]
    explicit = os.environ.get(env_name)
    if explicit:
        return Path(explicit).expanduser().resolve()
    root = os.environ.get("COMFYVN_RUNTIME_ROOT")
    if root:
        return (Path(root).expanduser() / kind).resolve()
    return Path(platform_default(APP_NAME, appauthor=False)).resolve()


def log_dir() -> Path:
    return _resolve("logs")


def config_dir() -> Path:
    return _resolve("config")


def data_dir() -> Path:
    return _resolve("data")


def cache_dir() -> Path:
    return _resolve("cache")


def uploads_dir() -> Path:
    """Uploads saved for a background job (each job removes its own when done)."""
    return cache_dir() / "uploads"


def workspaces_dir() -> Path:
    """Projects live here, one folder each."""
    return data_dir() / "workspaces"


def config_file(name: str) -> Path:
    return config_dir() / name


def all_paths() -> dict[str, Path]:
    return {
        "logs": log_dir(),
        "config": config_dir(),
        "data": data_dir(),
        "cache": cache_dir(),
        "workspaces": workspaces_dir(),
    }


def ensure_dirs() -> dict[str, Path]:
    """Create every runtime directory (idempotent) and return them."""
    paths = all_paths()
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return paths


@dataclass(frozen=True)
class LinkResult:
    link: Path
    target: Path
    status: str  # "created", "relinked", "exists", "same-place", "conflict", "unsupported"
    message: str


def legacy_links(base: Path) -> list[LinkResult]:
    """Create ``logs/``, ``cache/``, ``data/workspaces`` and ``data/settings`` links under ``base``.

    Older guides point users at those folders inside the checkout. A link is only made where
    nothing else is in the way; a conflicting file or folder is left alone and reported.
    """
    wanted = {
        Path("logs"): log_dir(),
        Path("cache"): cache_dir(),
        Path("data") / "workspaces": workspaces_dir(),
        Path("data") / "settings": config_dir(),
    }
    results = []
    for relative, target in wanted.items():
        results.append(_link(Path(base) / relative, target))
    return results


def _link(link: Path, target: Path) -> LinkResult:
    target.mkdir(parents=True, exist_ok=True)
    relinked = False
    if link.is_symlink() and not link.exists():  # dangling: it holds nothing, point it here
        link.unlink()
        relinked = True
    if link.is_symlink():
        if link.resolve() == target.resolve():
            return LinkResult(link, target, "exists", f"{link} already points at {target}")
        return LinkResult(
            link, target, "conflict",
            f"{link} is a link to {os.readlink(link)}, not {target}; remove it to let ComfyVN relink it",
        )
    if link.exists():
        if link.resolve() == target.resolve():
            return LinkResult(link, target, "same-place", f"{link} is already the runtime folder")
        return LinkResult(
            link, target, "conflict",
            f"{link} exists and is not a link; move it away to get a link to {target}",
        )
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
    except OSError as exc:  # e.g. Windows without the symlink privilege
        return LinkResult(link, target, "unsupported", f"could not link {link} -> {target}: {exc.strerror}")
    if relinked:
        return LinkResult(link, target, "relinked", f"relinked {link} -> {target} (its old target was gone)")
    return LinkResult(link, target, "created", f"linked {link} -> {target}")
