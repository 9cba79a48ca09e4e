"""The player's personas: list, import a roster, pick the active persona, delete one."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import InvalidInput, PayloadTooLarge
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


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the personas file is larger than the limit of {limit} bytes (setting "
                           "server.max_body_bytes): send a smaller file or raise the limit",
                           details={"bytes": size, "limit": limit})


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/import", summary="Import a personas file (personas_*.json backup or settings.json): body or upload")
async def import_personas(request: Request) -> dict[str, Any]:
    limit = int(SettingsManager().get("server.max_body_bytes"))
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file") or form.get("files")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a 'file' field with the personas file",
                               details={"field": "file"})
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise _too_large(len(data), limit)
        return await run_in_threadpool(registry.import_file, data, upload.filename or "upload")
    data = await _body(request, limit)
    if not data.strip():
        raise InvalidInput("send the personas file as the request body (JSON) or as a multipart 'file' field")
    return await run_in_threadpool(registry.import_file, data, "request body")


@router.get("/active", summary="The active persona (null when none is chosen)")
def get_active() -> dict[str, Any]:
    return {"active": registry.active()}


@router.post("/active", summary="Choose the active persona ({id}; null clears it)")
def set_active(body: ActiveBody) -> dict[str, Any]:
    return {"active": registry.set_active(body.id)}
