"""``comfyvn make``: chat logs and cards -> a playable, linted Ren'Py game in one command.

Import (``comfyvn.sillytavern.importer``, as ``comfyvn import``), render what the story shows
with the configured provider (the built-in renderer by default): a sprite for every character and
expression on stage, a background for every background beat; then export and lint
(``comfyvn.export.service``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfyvn.core.errors import InvalidInput
from comfyvn.export import exporter
from comfyvn.presentation.planner import plan_scene
from comfyvn.scenario.models import Background, Scene

Progress = Callable[[float, str], None]


def needed_art(scenes: list[Scene]) -> tuple[dict[str, tuple[str, set[str]]], dict[str, Background]]:
    """``({stage id: (name, expressions)}, {image reference: background beat})`` the scenes show."""
    people: dict[str, tuple[str, set[str]]] = {}
    backgrounds: dict[str, Background] = {}
    for scene in scenes:
        for node in plan_scene(scene)["nodes"]:
            stages = [node["entry"], *(frame["stage"] for frame in node["frames"])]
            for stage in stages:
                for person in stage["characters"]:
                    people.setdefault(person["id"], (person["name"], set()))[1].add(person["expression"])
        for node in scene.nodes:
            for beat in node.lines():
                if isinstance(beat, Background):
                    backgrounds.setdefault(beat.image, beat)
    return people, backgrounds


def render_art(project: str, scenes: list[Scene], *, provider: str = "auto", seed: int = 0,
               progress: Progress = lambda fraction, message: None) -> dict[str, int]:
    from comfyvn.render.service import render_background, render_sprites

    people, backgrounds = needed_art(scenes)
    total = max(len(people) + len(backgrounds), 1)
    done = 0
    for stage_id, (name, expressions) in sorted(people.items()):
        progress(done / total, f"drawing {name}")
        render_sprites(project, character=stage_id, name=name, expressions=sorted(expressions), provider=provider,
                       seed=seed)
        done += 1
    for ref, beat in sorted(backgrounds.items()):
        progress(done / total, f"drawing {ref}")
        render_background(project, location=beat.location or ref, time_of_day=beat.time_of_day, weather=beat.weather,
                          seed=seed, provider=provider)
        done += 1
    return {"characters": len(people), "backgrounds": len(backgrounds)}


def check_inputs(*, out: Path, provider: str) -> None:
    """InvalidInput when ``out`` cannot be the game's folder or ``provider`` cannot draw (unknown, or
    ComfyUI asked for and none configured): checked before anything is imported or drawn."""
    from comfyvn.export.service import check_out
    from comfyvn.render.service import comfyui_url

    check_out(out)
    comfyui_url(provider, None)


def make(project: str, *, out: Path, name: str | None = None, provider: str = "auto", seed: int = 0,
         progress: Progress = lambda fraction, message: None) -> dict[str, Any]:
    """Render and export an already imported project (the CLI imports first)."""
    from comfyvn.export.service import export_renpy

    check_inputs(out=out, provider=provider)
    scenes = exporter.load_scenes(project)
    if not scenes:
        raise InvalidInput("the import produced no scenes: give a chat log (cards alone make characters)",
                           code="nothing_to_export")
    drawn = render_art(project, scenes, provider=provider, seed=seed,
                       progress=lambda f, m: progress(0.1 + 0.6 * f, m))
    result = export_renpy(project, out=out, name=name, seed=seed,
                          progress=lambda f, m: progress(0.7 + 0.3 * f, m))
    return result | {"drawn": drawn}
