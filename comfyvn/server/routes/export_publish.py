"""Store packages over HTTP: ``POST /api/export/publish`` (flag ``enable_export_publish``)."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.export.packages import PUBLISH_FLAG
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/export", tags=["export"], flag=PUBLISH_FLAG)


class PublishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    targets: list[str] | None = Field(default=None, description="'steam' and/or 'itch' (default: every target "
                                                                "whose flag is on).")
    name: str | None = Field(default=None, max_length=200, description="The game's title (default: the project's).")
    version: str = Field(default="1.0", max_length=64, description="Version in the archive names and manifests.")
    seed: int | str = Field(default=0, description="The story PRNG's seed.")
    out: str | None = Field(default=None, description="Folder for the packages (default "
                                                      "<data>/exports/publish/<project>/).")
    icon: str | None = Field(default=None, description="A PNG or ICO file (default: a generated placeholder).")
    eula: str | None = Field(default=None, description="The EULA text file (default: a placeholder).")
    license_path: str | None = Field(default=None, description="The licence text file (default: a placeholder).")
    dry_run: bool = Field(default=False, description="Write nothing; report what each archive would change.")
    lint: bool | None = Field(default=None, description="Run Ren'Py's lint on the export (null: when Ren'Py is "
                                                        "installed); errors stop the publish.")


@router.post("/publish", summary="Export a project and write its Steam and itch packages (or preview them)")
async def publish(body: PublishBody) -> dict[str, Any]:
    from comfyvn.export.publish import publish_project

    return await run_in_threadpool(lambda: publish_project(**body.model_dump()))
