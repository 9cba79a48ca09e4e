"""The plugin host (pluggy). Core domains, installed plugins and dev plugins load the same way.

Sources, in load order:

1. ``CORE_PLUGINS``: the product's own domains;
2. installed packages exposing an entry point in the ``comfyvn`` group;
3. ``*.py`` files in the dev plugin folder (``COMFYVN_DEV_PLUGINS_DIR``, default
   ``<data>/dev_plugins``) when ``COMFYVN_DEV_MODE=1``.

A plugin that fails to import stops start-up with the error: nothing is skipped silently.
Two plugins declaring the same flag, event or job kind is an error too.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pluggy

from comfyvn.core import hookspecs

hookimpl = pluggy.HookimplMarker("comfyvn")

CORE_PLUGINS: tuple[str, ...] = (
    "comfyvn.core.domain",
    "comfyvn.diagnostics.domain",
    "comfyvn.scenario.domain",
    "comfyvn.projects.domain",
    "comfyvn.runtime.domain",
    "comfyvn.presentation.domain",
    "comfyvn.qa.playtest.domain",
    "comfyvn.pov.domain",
    "comfyvn.diffmerge.domain",
    "comfyvn.battle.domain",
    "comfyvn.roleplay.domain",
    "comfyvn.sillytavern.domain",
    "comfyvn.player.domain",
    "comfyvn.llm.domain",
    "comfyvn.assets.domain",
    "comfyvn.render.domain",
    "comfyvn.compute.domain",
    "comfyvn.perf.domain",
    "comfyvn.characters.domain",
    "comfyvn.export.domain",
)
ENTRY_POINT_GROUP = "comfyvn"


class PluginError(RuntimeError):
    """A plugin could not be loaded or declares something twice."""


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_sources: dict[str, str] = {}
_cache: dict[str, Any] = {}
generation = 0  # bumps whenever the set of plugins changes


def dev_mode() -> bool:
    return os.environ.get("COMFYVN_DEV_MODE", "").strip().lower() in {"1", "true", "yes", "on"}


def dev_plugins_dir() -> Path:
    explicit = os.environ.get("COMFYVN_DEV_PLUGINS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from comfyvn.config import runtime_paths

    return runtime_paths.data_dir() / "dev_plugins"


def _plugin_name(module: Any) -> str:
    return getattr(module, "PLUGIN_NAME", None) or module.__name__


def _load_dev_plugins(pm: pluggy.PluginManager) -> None:
    folder = dev_plugins_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.py")):
        module_name = f"comfyvn_dev_plugin_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot load dev plugin {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PluginError(f"dev plugin {path} failed to import: {exc!r}") from exc
        sys.modules[module_name] = module
        name = getattr(module, "PLUGIN_NAME", None) or f"dev:{path.stem}"
        pm.register(module, name=name)
        _sources[name] = f"dev:{path}"


def _build() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("comfyvn")
    pm.add_hookspecs(hookspecs)
    for module_name in CORE_PLUGINS:
        module = importlib.import_module(module_name)  # an ImportError here is loud on purpose
        name = _plugin_name(module)
        pm.register(module, name=name)
        _sources[name] = "core"
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for name, _plugin in pm.list_name_plugin():
        _sources.setdefault(name, "entrypoint")
    if dev_mode():
        _load_dev_plugins(pm)
    return pm


def manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                _sources.clear()
                _manager = _build()
    return _manager


def _changed() -> None:
    global generation
    _cache.clear()
    generation += 1


def register(plugin: Any, name: str | None = None, *, source: str = "runtime") -> str:
    """Register a plugin object at run time (extensions, tests)."""
    with _lock:
        pm = manager()
        plugin_name = name or _plugin_name(plugin)
        pm.register(plugin, name=plugin_name)
        _sources[plugin_name] = source
        _changed()
    return plugin_name


def unregister(name: str) -> None:
    with _lock:
        pm = manager()
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin)
        _sources.pop(name, None)
        _changed()


def reset() -> None:
    """Forget every loaded plugin; the next use rebuilds from the sources (tests, dev reload)."""
    global _manager
    with _lock:
        _manager = None
        _sources.clear()
        _changed()


def _collect(hook_name: str) -> list[tuple[str, Any]]:
    """Call a list-returning hook on every plugin, keeping which plugin returned what."""
    pm = manager()
    results: list[tuple[str, Any]] = []
    caller = getattr(pm.hook, hook_name)
    for impl in sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name):
        for item in impl.function() or ():
            results.append((impl.plugin_name, item))
    return results


def _declarations(hook_name: str, what: str) -> dict[str, Any]:
    cached = _cache.get(hook_name)
    if cached is not None:
        return cached
    with _lock:
        found: dict[str, Any] = {}
        for owner, item in _collect(hook_name):
            if item.name in found:
                raise PluginError(
                    f"{what} '{item.name}' is declared by both '{found[item.name].owner}' and '{owner}'"
                )
            found[item.name] = dataclasses.replace(item, owner=item.owner or owner)
        _cache[hook_name] = found
        return found


def flags() -> dict[str, Any]:
    return _declarations("comfyvn_flags", "feature flag")


def events() -> dict[str, Any]:
    return _declarations("comfyvn_events", "event")


def job_kinds() -> dict[str, Any]:
    return _declarations("comfyvn_job_kinds", "job kind")


def routers() -> list[tuple[str, Any]]:
    return _collect("comfyvn_routers")


def call(hook_name: str, **kwargs: Any) -> list[Any]:
    return getattr(manager().hook, hook_name)(**kwargs)


def state() -> dict[str, Any]:
    """What the plugin host has loaded, for ``GET /api/modder/hooks``."""
    pm = manager()
    plugins = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda p: str(p[0])):
        if plugin is None:
            continue
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        plugins.append({"name": name, "source": _sources.get(name, "unknown"), "hooks": hooks})
    return {
        "dev_mode": dev_mode(),
        "dev_plugins_dir": str(dev_plugins_dir()),
        "plugins": plugins,
        "counts": {"flags": len(flags()), "events": len(events()), "job_kinds": len(job_kinds())},
    }
