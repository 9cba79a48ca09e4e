"""The reference Ren'Py sample (``renpy_project/`` in the repository): a small story exported by us,
committed as a known-good game that the export smoke tests lint, play and compare against.

    renpy_project/source/scenes/*.json        the story (scene JSON, as a project stores it)
    renpy_project/source/timelines/*.json     play order
    renpy_project/source/translations/*.json  translations (a language per file)
    renpy_project/game/..., export_manifest.json   the exported game (generated, read-only)

``python scripts/update_renpy_sample.py`` rebuilds it after an intended change of the exporter;
``--check`` reports whether the committed game still equals a fresh export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comfyvn.core.errors import InvalidInput
from comfyvn.export import exporter
from comfyvn.scenario.models import Scene, parse_scene

ROOT = Path(__file__).resolve().parents[2] / "renpy_project"
NAME = "The Lantern Cafe"
SEED = 11


def _records(folder: Path) -> list[tuple[Path, Any]]:
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except ValueError as exc:
            raise InvalidInput(f"{path}: not valid JSON ({exc})") from None
    return out


def load(root: Path = ROOT) -> tuple[list[Scene], list[Any]]:
    """The sample's scenes in play order and its translations (validated)."""
    source = root / "source"
    scenes = {}
    for path, data in _records(source / "scenes"):
        scenes[data.get("id")] = parse_scene(data)
    order: list[str] = []
    for _, timeline in _records(source / "timelines"):
        order += [s for s in timeline.get("scenes", []) if s in scenes and s not in order]
    order += sorted(s for s in scenes if s not in order)
    if not order:
        raise InvalidInput(f"{source / 'scenes'} holds no scenes")
    from pydantic import ValidationError

    from comfyvn.projects.models import Translation

    translations = []
    for path, data in _records(source / "translations"):
        try:
            translations.append(Translation.model_validate(data))
        except ValidationError as exc:
            raise InvalidInput(f"{path}: not a valid translation ({exc.errors()[0]['msg']})") from None
    return [scenes[s] for s in order], translations


def build(root: Path = ROOT) -> exporter.Build:
    """The sample game, exported with its playthroughs (no project: art is placeholders)."""
    from comfyvn.export import pov_builds

    scenes, translations = load(root)
    options = exporter.Options(name=NAME, seed=SEED, with_tests=True)
    return exporter.build(scenes, options, povs=pov_builds.analyse(scenes, []), translations=translations)


def check(root: Path = ROOT) -> dict[str, list[str]]:
    """What differs between the committed sample and a fresh export (empty lists: identical)."""
    changes = exporter.diff(build(root), root)
    return {key: value for key, value in changes.items() if key != "unchanged"}


def update(root: Path = ROOT) -> dict[str, list[str]]:
    """Rewrite the sample's game from its source."""
    return exporter.write(build(root), root)
