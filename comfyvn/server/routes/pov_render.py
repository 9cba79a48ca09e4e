"""POV render switch: portraits of the active POV's cast, cached in the asset registry."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.characters import pov_portraits
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/pov/render", tags=["pov"])


class SwitchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    pov: str | None = Field(default=None, description="A character id (default: the active POV).")
    style: str | None = Field(default=None, max_length=64, description="Default: each character's style.")
    pose: str | None = Field(default=None, description="A pose id (GET /api/poses).")
    provider: Literal["auto", "builtin", "comfyui"] = "auto"
    url: str | None = None
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    refresh: bool = Field(default=False, description="Render again even when a portrait is cached.")


@router.post("/switch", summary="Portraits for the POV's cast, rendered once per (character, style, pose)")
async def switch(body: SwitchBody) -> dict[str, Any]:
    return await run_in_threadpool(lambda: pov_portraits.switch(**body.model_dump()))
