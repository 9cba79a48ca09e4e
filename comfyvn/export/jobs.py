"""The ``export.renpy`` job: a project exported and linted in the background, with progress."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comfyvn.core.job_types import JobContext
from comfyvn.projects.paths import DEFAULT_PROJECT


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    out: str | None = Field(default=None, description="Output folder (default <data>/build/<project>/renpy_game).")
    name: str | None = Field(default=None, max_length=200, description="The game's title.")
    version: str = Field(default="1.0", pattern=r"^[A-Za-z0-9._+-]{1,64}$", description="The game's version "
                                                                                   "(config.version).")
    seed: int | str = Field(default=0, description="The story PRNG's seed.")
    per_scene: bool = True
    lint: bool | None = Field(default=None, description="Run Ren'Py's lint (null: when Ren'Py is installed).")
    scenes: list[str] | None = Field(default=None, description="Scene ids in order (default: the timeline's).")
    with_tests: bool = Field(default=False, description="Add and run playthroughs of each ending (checked "
                                                        "against our runner).")
    pov_mode: Literal["auto", "master", "forks", "both", "disabled"] = Field(
        default="auto", description="POV builds: a master game with a Switch POV menu and/or one game per POV "
                                    "under forks/<slug>/ (auto: both when the project has two or more POVs).")
    pov_switch: bool = Field(default=True, description="The master game's in-game Switch POV menu.")


def run_export(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.export.service import export_renpy

    params = ExportParams.model_validate(ctx.params or {})
    return export_renpy(**params.model_dump(), progress=lambda fraction, message: ctx.progress(fraction, message))
