"""Export over HTTP: a Ren'Py project (a job unless blocking) and the diff a new export would make."""

from __future__ import annotations

from typing import Any

from fastapi import Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from comfyvn.export.jobs import ExportParams
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/api/export", tags=["export"])


class ExportBody(ExportParams):
    blocking: bool = Field(default=False, description="Export in the request instead of as a job.")


@router.post("/renpy", summary="Export a project as a Ren'Py project and lint it (a job unless blocking)",
             responses={202: {"description": "Queued as an export.renpy job: {job_id, status_url}"}})
async def export_renpy(body: ExportBody, services: ServicesDep) -> Any:
    params = body.model_dump(exclude={"blocking"})
    if body.blocking:
        from comfyvn.export.service import export_renpy as run

        return await run_in_threadpool(lambda: run(**params))
    job = services.jobs.submit("export.renpy", params)
    return JSONResponse({"job_id": job["id"], "status_url": f"/jobs/{job['id']}"}, status_code=202)


@router.get("/renpy/preview", summary="What a new export would change (a dry run: nothing is written)")
def preview(project: str = DEFAULT_PROJECT, out: str | None = None, name: str | None = Query(None, max_length=200),
            version: str = Query("1.0", pattern=r"^[A-Za-z0-9._+-]{1,64}$"), seed: str = "0",
            per_scene: bool = True, with_tests: bool = False,
            scenes: list[str] | None = Query(None, description="Scene ids in play order (repeat the parameter)."),
            pov_mode: str = "auto", pov_switch: bool = True) -> dict[str, Any]:
    """Equals ``export_renpy(..., dry_run=True)`` with the same options: what POST /api/export/renpy
    with them would change."""
    from comfyvn.export.service import export_renpy as run
    from comfyvn.scenario.rng import seed_from_text

    return run(project, out=out, name=name, version=version, seed=seed_from_text(seed), per_scene=per_scene,
               dry_run=True, scenes=scenes, with_tests=with_tests, pov_mode=pov_mode, pov_switch=pov_switch)
