"""Feature flags: one registry, declared by the domains, persisted in ``<config>/comfyvn.json``.

A domain declares its flags through the ``comfyvn_flags`` plugin hook (see
``comfyvn.core.hookspecs``); the owner is the declaring plugin. Values the user changed live under
``features`` in ``comfyvn.json``; everything else uses the declared default. Reads are served from
a cache; :func:`refresh_cache` re-reads the file (the CLI and the Studio write it too).
Toggling a flag publishes ``flags.changed`` on the modder hook bus.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import JsonDocument

CONFIG_FILE = "comfyvn.json"
SECTION = "features"


@dataclass(frozen=True)
class Flag:
    name: str
    default: bool
    description: str
    owner: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnknownFlag(NotFound):
    code = "unknown_flag"

    def __init__(self, name: str) -> None:
        super().__init__(f"feature flag '{name}' is not declared", details={"flag": name})


_lock = threading.Lock()
# (path, file signature, plugin generation, values): a change of the file by another process or of
# the loaded plugins invalidates the cache.
_cache: tuple[Path, tuple[int, ...] | None, int, dict[str, bool]] | None = None


def config_path() -> Path:
    return runtime_paths.config_file(CONFIG_FILE)


def declared() -> dict[str, Flag]:
    """Every declared flag by name."""
    from comfyvn.core import plugins

    return plugins.flags()


def _signature(path: Path) -> tuple[int, ...] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    # The inode changes on every atomic replace, so a same-size rewrite is noticed even where
    # mtimes are coarse (HFS+, FAT, network shares).
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)


def _stored() -> dict[str, bool]:
    section = JsonDocument(config_path()).read().get(SECTION, {})
    if not isinstance(section, dict):
        return {}
    return {str(k): bool(v) for k, v in section.items()}


def refresh_cache() -> dict[str, bool]:
    """Re-read ``comfyvn.json`` and return the effective value of every declared flag."""
    global _cache
    from comfyvn.core import plugins

    path = config_path()
    signature = _signature(path)
    stored = _stored()
    current = {name: stored.get(name, flag.default) for name, flag in declared().items()}
    with _lock:
        _cache = (path, signature, plugins.generation, current)
    return dict(current)


def values() -> dict[str, bool]:
    from comfyvn.core import plugins

    cache = _cache
    path = config_path()
    if cache is None or cache[0] != path or cache[1] != _signature(path) or cache[2] != plugins.generation:
        return refresh_cache()
    return dict(cache[3])


def is_enabled(name: str) -> bool:
    current = values()
    if name not in current:
        raise UnknownFlag(name)
    return current[name]


def enabled() -> list[str]:
    return sorted(name for name, on in values().items() if on)


def snapshot() -> list[dict[str, Any]]:
    """Declared flags with their current value, for the API and the Studio."""
    current = values()
    return [
        {**flag.as_dict(), "enabled": current[name]}
        for name, flag in sorted(declared().items())
    ]


def set_enabled(name: str, value: bool) -> dict[str, Any]:
    """Persist a flag's value, refresh the cache and publish ``flags.changed``."""
    if not isinstance(value, bool):
        raise InvalidInput(f"flag '{name}' must be set to true or false", details={"flag": name})
    flags = declared()
    if name not in flags:
        raise UnknownFlag(name)
    previous = is_enabled(name)
    JsonDocument(config_path()).update({SECTION: {name: value}})
    refresh_cache()
    from comfyvn.core import modder_hooks

    modder_hooks.emit("flags.changed", {"name": name, "enabled": value, "previous": previous})
    return {**flags[name].as_dict(), "enabled": value}
