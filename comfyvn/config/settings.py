"""The settings manager: one JSON file (``<config>/settings.json``) with deep-merge semantics.

Reads always see the latest file, so an edit made by the CLI is visible to a running server and
the Studio at once. Writes merge only the keys they carry, under a cross-process lock, so two
programs editing different sections never clobber each other. Values not in the file fall back
to :data:`DEFAULTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import JsonDocument, deep_merge, get_path, nest

SETTINGS_FILE = "settings.json"

DEFAULTS: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "port": 8001, "max_body_bytes": 32 * 1024 * 1024},
    "jobs": {"workers": 2, "history_limit": 5000},
    "modder": {
        "history_size": 500,
        "ws_queue_size": 1024,
        "ws_heartbeat_seconds": 20.0,
        "webhooks": {"allow": [], "max_attempts": 4, "backoff_seconds": 0.5, "timeout_seconds": 10.0},
    },
    # previews: "background" (a worker thread makes thumbnails/waveforms) or "off"
    "assets": {"max_upload_bytes": 32 * 1024 * 1024, "previews": "background"},
    # an OpenAI-compatible chat endpoint; the key is read from the environment variable named here
    "llm": {"provider": "offline", "base_url": "", "model": "", "api_key_env": "", "timeout_seconds": 60.0,
            "max_tokens": 1024, "temperature": 0.0},
}

ChangeListener = Callable[[list[str]], None]


class SettingsManager:
    def __init__(self, path: Path | None = None, *, on_change: ChangeListener | None = None) -> None:
        self._explicit_path = path
        self._on_change = on_change

    @property
    def path(self) -> Path:
        return self._explicit_path or runtime_paths.config_file(SETTINGS_FILE)

    def _doc(self) -> JsonDocument:
        return JsonDocument(self.path)

    def stored(self) -> dict[str, Any]:
        """Only what is in the file, without defaults."""
        return self._doc().read()

    def all(self) -> dict[str, Any]:
        return deep_merge(DEFAULTS, self.stored())

    def get(self, key: str | None = None, default: Any = None) -> Any:
        data = self.all()
        if not key:
            return data
        missing = object()
        value = get_path(data, key, missing)
        if value is missing:
            if default is not None:
                return default
            raise NotFound(f"setting '{key}' is not set", details={"key": key})
        return value

    def set(self, key: str, value: Any) -> dict[str, Any]:
        """Set one dotted key (``server.port``) and persist it. The value replaces what was there (an
        object is not merged into the stored one: ``save`` merges); the rest of the file is untouched."""
        try:
            nest(key, value)  # checks the key
        except ValueError as exc:
            raise InvalidInput(str(exc), details={"key": key}) from exc
        *parents, last = key.split(".")

        def replace(data: dict[str, Any]) -> None:
            here = data
            for part in parents:
                if not isinstance(here.get(part), dict):
                    here[part] = {}
                here = here[part]
            here[last] = value

        self._doc().mutate(replace)
        if self._on_change:
            self._on_change([key.split(".")[0]])
        return self.all()

    def save(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the file and return the effective settings."""
        if not isinstance(patch, Mapping):
            raise InvalidInput("settings must be a JSON object")
        self._doc().update(patch)
        if self._on_change and patch:
            self._on_change(sorted(patch))
        return self.all()
