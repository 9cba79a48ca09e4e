"""POV: the active point of view, its candidates, and worldlines (forks of a scene at a node)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.pov import manager, worldlines
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/pov", tags=["pov"])

RevisionQ = Annotated[str | None, Query(
    description="Refuse with 409 unless the stored revision (from GET) is this one.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT


class SceneSource(Body):
    scene: dict[str, Any] | None = Field(default=None, description="The scene itself.")
    scene_id: str | None = Field(default=None, description="A stored scene of the project.")
    worldline: str | None = Field(default=None, description="A worldline id: its current scene.")

    def resolve(self):
        return manager.source_scene(self.project, scene=self.scene, scene_id=self.scene_id,
                                    worldline=self.worldline)


class SetBody(SceneSource):
    pov: str | None = Field(description="The POV to make active (a candidate id or name); null clears it.")


class CreateBody(SceneSource):
    node: str | None = Field(default=None, description="Node to fork at (default: the start node).")
    pov: str | None = Field(default=None, description="POV of the worldline (default: the parent's).")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    id: str | None = Field(default=None, description="Worldline id (default: made from the name).")
    metadata: dict[str, Any] | None = None
    activate: bool = Field(default=False, description="Also make it the active worldline.")

    def create(self) -> dict[str, Any]:
        return manager.fork(self.project, node=self.node, scene=self.scene, scene_id=self.scene_id,
                            worldline=self.worldline, pov=self.pov, name=self.name, worldline_id=self.id,
                            metadata=self.metadata, activate_it=self.activate)


class ForkBody(CreateBody):
    node: str = Field(description="Node to fork at; it must exist in the source scene.")


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    pov: str | None = Field(default=None, description="New POV (a candidate of the scene); null clears it.")
    metadata: dict[str, Any] | None = Field(default=None, description="Replaces the metadata.")
    scene: dict[str, Any] | None = Field(default=None, description="The whole new scene (same id).")
    nodes: list[dict[str, Any]] | None = Field(default=None, description="Nodes to replace (by id) or add.")
    remove_nodes: list[str] | None = Field(default=None, description="Node ids to remove.")


@router.get("/get", summary="The active POV and worldline of a project")
def get_pov(project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return manager.get_state(project)


@router.post("/set", summary="Set (or clear) the active POV; checked against a scene's candidates when given")
def set_pov(body: SetBody) -> dict[str, Any]:
    return manager.set_pov(body.project, body.pov, scene=body.scene, scene_id=body.scene_id, worldline=body.worldline)


@router.post("/candidates", summary="Who could tell a scene: cast, speakers, node POVs, visible_to names")
def candidates(body: SceneSource) -> dict[str, Any]:
    scene, record = body.resolve()
    return {"project": body.project, "scene_id": scene.id, "worldline": record["id"] if record else None,
            "candidates": manager.candidates(scene)}


@router.post("/fork", status_code=201, summary="Fork a worldline from a scene or worldline at a node")
def fork(body: ForkBody) -> dict[str, Any]:
    return body.create()


@router.get("/worlds", summary="The project's worldlines (summaries), the active one, and damaged files")
def list_worlds(project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return manager.listing(project)


@router.post("/worlds", status_code=201, summary="Create a worldline (a fork at the start node unless 'node')")
def create_world(body: CreateBody) -> dict[str, Any]:
    return body.create()


@router.get("/worlds/{worldline_id}", summary="One worldline, with its base, scene and revision")
def get_world(worldline_id: str, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return worldlines.get(project, worldline_id)


def _update(worldline_id: str, project: str, body: UpdateBody, expected_revision: str | None) -> dict[str, Any]:
    return manager.update(project, worldline_id, name=body.name, pov=body.pov,
                          clear_pov="pov" in body.model_fields_set and body.pov is None,
                          metadata=body.metadata, scene=body.scene, nodes=body.nodes, remove_nodes=body.remove_nodes,
                          expected_revision=expected_revision)


@router.patch("/worlds/{worldline_id}", summary="Rename, change POV or metadata, or edit the scene (validated)")
def patch_world(worldline_id: str, body: UpdateBody, project: str = DEFAULT_PROJECT,
                expected_revision: RevisionQ = None) -> dict[str, Any]:
    return _update(worldline_id, project, body, expected_revision)


@router.put("/worlds/{worldline_id}", summary="Same as PATCH: only the fields given change")
def put_world(worldline_id: str, body: UpdateBody, project: str = DEFAULT_PROJECT,
              expected_revision: RevisionQ = None) -> dict[str, Any]:
    return _update(worldline_id, project, body, expected_revision)


@router.delete("/worlds/{worldline_id}", summary="Delete a worldline without children (a damaged one too)")
def delete_world(worldline_id: str, project: str = DEFAULT_PROJECT,
                 expected_revision: RevisionQ = None) -> dict[str, Any]:
    return worldlines.delete(project, worldline_id, expected_revision=expected_revision)


@router.post("/worlds/{worldline_id}/activate", summary="Make a worldline (and its POV) the active one")
def activate_world(worldline_id: str, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return manager.activate(project, worldline_id)
