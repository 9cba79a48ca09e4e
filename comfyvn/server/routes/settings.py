"""Settings: read, set one key, save a partial document (deep merge)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/settings", tags=["settings"])


class SetBody(BaseModel):
    key: str = Field(min_length=1, description="Dotted key, e.g. 'server.port'.")
    value: Any


class SaveBody(BaseModel):
    settings: dict[str, Any] = Field(description="Partial settings, deep-merged into the stored ones.")


@router.get("/get", summary="Effective settings (stored values over defaults), or one dotted key")
def get_settings(services: ServicesDep, key: str | None = None) -> dict[str, Any]:
    if key:
        return {"key": key, "value": services.settings.get(key)}
    return {"settings": services.settings.get(), "path": str(services.settings.path)}


@router.post("/set", summary="Set one dotted key and persist it")
def set_setting(body: SetBody, services: ServicesDep) -> dict[str, Any]:
    settings = services.settings.set(body.key, body.value)
    return {"key": body.key, "value": body.value, "settings": settings}


@router.post("/save", summary="Deep-merge a partial settings object into the stored settings")
def save_settings(body: SaveBody, services: ServicesDep) -> dict[str, Any]:
    return {"settings": services.settings.save(body.settings)}
