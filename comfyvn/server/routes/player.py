"""The player's personas: list, import a roster, pick the active persona, delete one."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.core.errors import InvalidInput
from comfyvn.player import registry
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/player", tags=["player"])


class ActiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(description="The persona to make active; null clears the choice.")


@router.get("/personas", summary="The persona roster with the default and the active persona ids")
def list_personas() -> dict[str, Any]:
    return registry.list_personas()


@router.get("/personas/{persona_id}", summary="One persona")
def get_persona(persona_id: str) -> dict[str, Any]:
    return registry.get_persona(persona_id)


@router.delete("/personas/{persona_id}", summary="Remove a persona (clears the active choice when it was active)")
def delete_persona(persona_id: str) -> dict[str, Any]:
    return registry.delete_persona(persona_id)


@router.post("/import", summary="Import a personas file (personas_*.json backup or settings.json): body or upload")
async def import_personas(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file") or form.get("files")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a 'file' field with the personas file",
                               details={"field": "file"})
        return registry.import_file(await upload.read(), upload.filename or "upload")
    data = await request.body()
    if not data.strip():
        raise InvalidInput("send the personas file as the request body (JSON) or as a multipart 'file' field")
    return registry.import_file(data, "request body")


@router.get("/active", summary="The active persona (null when none is chosen)")
def get_active() -> dict[str, Any]:
    return {"active": registry.active()}


@router.post("/active", summary="Choose the active persona ({id}; null clears it)")
def set_active(body: ActiveBody) -> dict[str, Any]:
    return {"active": registry.set_active(body.id)}
