"""Where a project lives: one folder per project under the workspaces directory.

    <data>/workspaces/<project_id>/
        project.json          name, description, created/updated times
        scenes/<id>.json      canonical scenes (comfyvn.scenario.models.Scene)
        characters/<id>.json
        timelines/<id>.json   ordered scene lists
        worlds/<id>.json      settings and lore
        worldlines/<id>.json  POV worldlines (forks of scenes)

Ids are checked here so nothing can name a path outside the project folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput

DEFAULT_PROJECT = "default"
ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


# names Windows reserves for devices, with or without an extension ("con", "nul.json")
RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))})


def check_id(value: str, what: str = "id") -> str:
    """``value`` if it is a safe id, else 422: 1-128 letters, digits, '_', '.', '-', not starting
    with '.' or '-', not ending with '.', no '..', and not a Windows device name (the id becomes a
    file or folder name on every platform)."""
    if (not isinstance(value, str) or not ID_RE.match(value) or ".." in value or value.endswith(".")
            or value.split(".", 1)[0].lower() in RESERVED):
        raise InvalidInput(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '_', '.' or '-' (not starting with '.', not "
            "ending with '.', not a reserved device name such as 'con' or 'nul')",
            details={what: value},
        )
    return value


def project_dir(project_id: str = DEFAULT_PROJECT) -> Path:
    return runtime_paths.workspaces_dir() / check_id(project_id, "project")
