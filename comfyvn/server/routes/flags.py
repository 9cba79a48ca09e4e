"""Feature flags: list, read, toggle."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from comfyvn.config import feature_flags
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/flags", tags=["flags"])


class FlagBody(BaseModel):
    enabled: bool


@router.get("", summary="Every declared flag with its owner, default and current value")
def list_flags() -> dict[str, Any]:
    return {"flags": feature_flags.snapshot()}


@router.post("/refresh", summary="Re-read comfyvn.json (after editing it by hand)")
def refresh() -> dict[str, Any]:
    feature_flags.refresh_cache()
    return {"flags": feature_flags.snapshot()}


@router.get("/{name}", summary="One flag")
def get_flag(name: str) -> dict[str, Any]:
    enabled = feature_flags.is_enabled(name)
    return {**feature_flags.declared()[name].as_dict(), "enabled": enabled}


@router.post("/{name}", summary="Switch a flag on or off (persisted; publishes flags.changed)")
def set_flag(name: str, body: FlagBody) -> dict[str, Any]:
    return feature_flags.set_enabled(name, body.enabled)
