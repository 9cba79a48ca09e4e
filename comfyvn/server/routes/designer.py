"""The Character Designer over HTTP: LoRA stacks and renders of stored characters
(``/api/characters/...``), the LoRA registry (``/api/lora``) and poses (``/api/poses``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.characters import designer, lora, poses
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import ServicesDep, domain_router

ProjectQ = Annotated[str, Query(description="Project id.")]

characters = domain_router(prefix="/api/characters", tags=["characters"])
loras = domain_router(prefix="/api/lora", tags=["lora"])
pose_router = domain_router(prefix="/api/poses", tags=["poses"])


def routers() -> list[APIRouter]:
    return [characters, loras, pose_router]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- characters: LoRA stacks and renders -----------------------------------------------------------

class StackBody(Strict):
    loras: list[dict[str, Any]] = Field(description="The LoRA stack: {name, strength, clip_strength?, "
                                                    "trigger_words?, sha256?} in order.")


@characters.get("/{character_id}/loras", summary="A character's LoRA stack")
def get_loras(character_id: str, project: ProjectQ = DEFAULT_PROJECT) -> dict[str, Any]:
    return designer.get_loras(project, character_id)


@characters.put("/{character_id}/loras", summary="Replace a character's LoRA stack (checked against the registry)")
def put_loras(character_id: str, body: StackBody, project: ProjectQ = DEFAULT_PROJECT) -> dict[str, Any]:
    return designer.set_loras(project, character_id, body.loras)


class RenderBody(Strict):
    project: str = DEFAULT_PROJECT
    character_id: str = Field(description="A stored character of the project.")
    kind: Literal["portrait", "sprites"] = "portrait"
    expressions: list[str] | None = Field(default=None, min_length=1, max_length=64,
                                          description="Default: the character's (sprites) or its default one.")
    style: str | None = Field(default=None, max_length=64, description="Default: the character's style.")
    provider: Literal["auto", "builtin", "comfyui"] = "auto"
    url: str | None = None
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    pose: str | None = Field(default=None, max_length=128,
                             description="Sprites in this pose (a pose id, or 'active' for the active persona's pose).")
    blocking: bool = Field(default=False, description="Render in the request instead of as jobs.")


@characters.post("/render", summary="Render a stored character's portrait or sprites (jobs unless blocking)")
async def render(body: RenderBody, services: ServicesDep) -> Any:
    requests = await run_in_threadpool(lambda: designer.render_requests(  # reads the record, stack and pose
        body.project, body.character_id, kind=body.kind, expressions=body.expressions, style=body.style,
        provider=body.provider, url=body.url, seed=body.seed, pose=body.pose))
    if body.blocking:
        assets: list[dict[str, Any]] = []
        for kind, params in requests:
            assets += await run_in_threadpool(designer.run_request, kind, params)
        return {"character": body.character_id, "assets": assets}
    jobs = [services.jobs.submit(kind, params) for kind, params in requests]
    return JSONResponse({"character": body.character_id,
                         "jobs": [{"job_id": j["id"], "kind": j["kind"], "status_url": f"/jobs/{j['id']}",
                                   "state": j.get("state")} for j in jobs]}, status_code=202)


# -- the LoRA registry --------------------------------------------------------------------------

class RegisterBody(Strict):
    path: str | None = Field(default=None, description="Absolute path of a local LoRA file.")
    name: str | None = Field(default=None, description="Name ComfyUI knows it by (default: the file name).")
    sha256: str | None = Field(default=None, description="Expected hash (required without 'path').")
    base_model: str | None = Field(default=None, max_length=100)
    trigger_words: list[str] | None = None
    tags: list[str] | None = None
    source: str | None = Field(default=None, max_length=200)
    replace: bool = Field(default=False, description="Replace an entry of the same name with other content.")


class VerifyBody(Strict):
    names: list[str] | None = Field(default=None, description="Only these LoRAs (default: all).")


@loras.get("", summary="Search the LoRA registry")
def search_loras(q: str | None = None, tag: str | None = None, base_model: str | None = None) -> dict[str, Any]:
    return {"items": lora.search(q=q, tag=tag, base_model=base_model)}


@loras.post("", summary="Register a LoRA from a local file (sha256 computed) or by name and sha256")
async def register_lora(body: RegisterBody) -> Any:
    entry = await run_in_threadpool(lambda: lora.register(**body.model_dump()))
    return JSONResponse(entry, status_code=201 if entry["created"] else 200)


@loras.post("/verify", summary="Hash the registered files again: mismatches and missing files")
async def verify_loras(body: VerifyBody) -> dict[str, Any]:
    return await run_in_threadpool(lora.verify, body.names)


@loras.get("/{name:path}", summary="One registry entry")
def get_lora(name: str) -> dict[str, Any]:
    return lora.get(name)


@loras.delete("/{name:path}", summary="Forget a LoRA (the file is left alone)")
def delete_lora(name: str) -> dict[str, Any]:
    return lora.delete(name)


# -- poses --------------------------------------------------------------------------------------

class ActiveBody(Strict):
    id: str | None = Field(description="Pose id; null clears the active pose.")


@pose_router.get("", summary="List poses")
def list_poses() -> dict[str, Any]:
    return {"items": poses.list_poses()}


@pose_router.post("", status_code=201, summary="Create a pose (OpenPose keypoints or an image asset uid)")
def create_pose(body: dict[str, Any], replace: bool = False) -> dict[str, Any]:
    return poses.create_pose(body, replace=replace)


@pose_router.get("/active", summary="The active persona and its pose")
def get_active() -> dict[str, Any]:
    return poses.active_pose()


@pose_router.post("/active", summary="Set the active persona's pose ({id}; null clears it)")
def set_active(body: ActiveBody) -> dict[str, Any]:
    return poses.set_active_pose(body.id)


@pose_router.get("/{pose_id}", summary="One pose")
def get_pose(pose_id: str) -> dict[str, Any]:
    return poses.get_pose(pose_id)


@pose_router.delete("/{pose_id}", summary="Delete a pose")
def delete_pose(pose_id: str) -> dict[str, Any]:
    return poses.delete_pose(pose_id)


@pose_router.get("/{pose_id}/image", summary="The pose as a picture (a stick figure PNG for keypoints)",
                 response_class=Response, responses={200: {"content": {"image/png": {}}}})
def pose_image(pose_id: str, project: ProjectQ = DEFAULT_PROJECT, width: int = Query(512, ge=16, le=4096),
               height: int = Query(768, ge=16, le=4096)) -> Response:
    data, media = poses.pose_image(pose_id, project=project, width=width, height=height)
    return Response(data, media_type=media)
