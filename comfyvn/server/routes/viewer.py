"""The viewer: launch an exported game in Ren'Py, see whether it runs, stop it."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.export import viewer
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/viewer", tags=["viewer"])


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_path: str | None = Field(default=None, description="An exported game (default: COMFYVN_RENPY_PROJECT_DIR, "
                                                               "else the default project's export).")
    renpy_executable: str | None = Field(default=None, description="A Ren'Py launcher (renpy.sh, renpy.py).")
    renpy_sdk: str | None = Field(default=None, description="A Ren'Py SDK folder (422 naming the field when it is "
                                                          "not one; renpy_executable likewise).")


@router.post("/start", summary="Launch the exported game in Ren'Py (stops one already running)")
async def start(body: StartBody) -> dict[str, Any]:
    return await run_in_threadpool(lambda: viewer.start(**body.model_dump()))


@router.get("/status", summary="Whether the game runs, with its process id and exit code")
def status() -> dict[str, Any]:
    return viewer.status()


@router.post("/stop", summary="Stop the game (SIGTERM, then SIGKILL after 5 s)")
async def stop() -> dict[str, Any]:
    return await run_in_threadpool(viewer.stop)
