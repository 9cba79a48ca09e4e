"""The render jobs: ``render.background``, ``render.sprites``, ``render.portrait``,
``render.template``. Each draws through ComfyUI or the built-in renderer and registers the
results as assets (see ``comfyvn.render.service``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comfyvn.core.job_types import JobContext
from comfyvn.projects.paths import DEFAULT_PROJECT

Provider = Literal["auto", "builtin", "comfyui"]


class RenderBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    provider: Provider = Field(default="auto", description="'auto': ComfyUI when one is configured, else built-in.")
    url: str | None = Field(default=None, description="A ComfyUI server to use instead of the configured one.")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


class BackgroundParams(RenderBase):
    location: str = Field(min_length=1, max_length=200, description="Where, in words: 'forest clearing'.")
    time_of_day: str | None = Field(default=None, max_length=40)
    weather: str | None = Field(default=None, max_length=40)
    width: int = Field(default=1280, ge=16, le=4096)
    height: int = Field(default=720, ge=16, le=4096)


class SpritesParams(RenderBase):
    character: str = Field(min_length=1, max_length=128, description="Character id (folder and tag).")
    name: str | None = Field(default=None, max_length=200, description="Display name drawn on built-in sprites.")
    expressions: list[str] = Field(default_factory=lambda: ["neutral"], min_length=1, max_length=64)
    appearance: str | None = Field(default=None, max_length=1000)
    style: str = Field(default="default", max_length=64)
    lora: dict[str, Any] | None = Field(default=None, description="{name, strength} for ComfyUI renders.")
    pose: str | None = Field(default=None, max_length=128, description="A pose id (GET /api/poses): ComfyUI renders follow it.")
    loras: list[dict[str, Any]] | None = Field(default=None, description="The character's LoRA stack "
                                               "[{name, strength, clip_strength?}] (all of it with the hardened bridge).")


class PortraitParams(RenderBase):
    loras: list[dict[str, Any]] | None = None
    character: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    expression: str = Field(default="neutral", max_length=40)
    appearance: str | None = Field(default=None, max_length=1000)
    style: str = Field(default="default", max_length=64)


class TemplateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    template: str = Field(description="A workflow template id (GET /api/render/templates).")
    values: dict[str, Any] = Field(default_factory=dict)
    url: str | None = None
    asset_type: str = "image"


def _hooks(ctx: JobContext) -> dict[str, Any]:
    return {"progress": lambda fraction, message: ctx.progress(min(fraction, 0.99), message),
            "cancelled": lambda: ctx.cancelled}


def run_background(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.render.service import render_background

    params = BackgroundParams.model_validate(ctx.params or {})
    return {"assets": [render_background(**params.model_dump(), **_hooks(ctx))]}


def run_sprites(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.render.service import render_sprites

    params = SpritesParams.model_validate(ctx.params or {})
    return {"assets": render_sprites(**params.model_dump(), **_hooks(ctx))}


def run_portrait(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.render.service import render_portrait

    params = PortraitParams.model_validate(ctx.params or {})
    return {"assets": [render_portrait(**params.model_dump(), **_hooks(ctx))]}


def run_template(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.render.service import render_template

    params = TemplateParams.model_validate(ctx.params or {})
    return {"assets": [render_template(**params.model_dump(), **_hooks(ctx))]}
