"""Rendering over HTTP: queue render jobs (or run them in the request), list workflow templates."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from comfyvn.render import jobs, locks, templates
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/api/render", tags=["render"])


class Blocking(BaseModel):
    blocking: bool = Field(default=False, description="Render in the request instead of as a job.")


class BackgroundBody(jobs.BackgroundParams, Blocking):
    pass


class SpritesBody(jobs.SpritesParams, Blocking):
    pass


class PortraitBody(jobs.PortraitParams, Blocking):
    pass


class TemplateBody(jobs.TemplateParams, Blocking):
    pass


async def _run(kind: str, body: Any, services: Any) -> Any:
    params = body.model_dump(exclude={"blocking"})
    if body.blocking:
        from comfyvn.render import service

        call = {"render.background": service.render_background, "render.sprites": service.render_sprites,
                "render.portrait": service.render_portrait, "render.template": service.render_template}[kind]
        result = await run_in_threadpool(lambda: call(**params))
        return {"assets": result if isinstance(result, list) else [result]}
    job = services.jobs.submit(kind, params)
    return JSONResponse({"job_id": job["id"], "status_url": f"/jobs/{job['id']}", "state": job.get("state")},
                        status_code=202)


def _endpoint(kind: str, body_type: type[BaseModel], summary: str) -> None:
    async def endpoint(body: Any, services: ServicesDep) -> Any:
        return await _run(kind, body, services)

    endpoint.__annotations__["body"] = body_type  # a real class: this module's annotations are strings

    router.post(f"/{kind.split('.', 1)[1]}", summary=summary, name=kind)(endpoint)


_endpoint("render.background", BackgroundBody, "Render a background into the project's assets (a job unless blocking)")
_endpoint("render.sprites", SpritesBody, "Render a character's sprites, one per expression")
_endpoint("render.portrait", PortraitBody, "Render a character portrait")
_endpoint("render.template", TemplateBody, "Run a workflow template on a ComfyUI server")


class ConvertBody(BaseModel):
    workflow: dict[str, Any] = Field(description="A workflow file: API format, or UI format (nodes + links) to convert.")
    url: str = Field(description="The ComfyUI server whose /object_info names the widget values.")


@router.post("/workflow/convert", summary="A user's workflow file in API format (UI-format files are converted "
             "with the server's /object_info when possible; 422 workflow_unconvertible otherwise)")
def convert_workflow(body: ConvertBody) -> dict[str, Any]:
    from comfyvn.render.comfyui import server

    if not templates.is_ui_format(body.workflow):
        return {"format": "api", "graph": body.workflow}
    return {"format": "ui", "graph": templates.from_ui(body.workflow, server(body.url).object_info())}


@router.get("/templates", summary="The workflow templates with their parameters")
def list_templates() -> dict[str, Any]:
    items = []
    for name in templates.names():
        found = templates.get(name)
        items.append({"id": name, "description": found.get("description"), "kind": found.get("kind"),
                      "parameters": found.get("parameters"), "nodes": locks.current(name)["nodes"]})
    return {"templates": items}


@router.get("/templates/{template_id}", summary="One workflow template (graph included)")
def get_template(template_id: str) -> dict[str, Any]:
    return templates.get(template_id)
