"""Diff/merge tools (flag ``enable_diffmerge_tools``): node-level scene diffs with POV masks, the
worldline graph, and three-way worldline merges."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comfyvn.diffmerge import merge as merging
from comfyvn.diffmerge import service
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/diffmerge", tags=["diffmerge"], flag="enable_diffmerge_tools")

REF_HELP = "{scene} | {scene_id} | {worldline, version: 'scene' | 'base'}"


class DiffBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    source: dict[str, Any] = Field(description=f"The 'before' version: {REF_HELP}.")
    target: dict[str, Any] = Field(description=f"The 'after' version: {REF_HELP}.")
    mask_pov: str | None = Field(default=None, description="Compare only what this POV can see.")


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    source: str = Field(description="The worldline whose changes are merged.")
    target: str | None = Field(default=None, description="A worldline to merge into (default: the parent).")
    target_scene_id: str | None = Field(default=None, description="A stored scene of the project to merge into.")
    target_scene: dict[str, Any] | None = Field(
        default=None, description="An inline scene to merge into: the result is returned, never written.")
    dry_run: bool = Field(default=False, description="Compute and return the merge; write nothing.")
    resolutions: dict[str, Literal["source", "target"]] = Field(
        default_factory=dict, description="Conflict key -> side whose version wins.")


@router.post("/scene", summary="Node-level diff of two scene versions, optionally masked to one POV")
def diff_scene(body: DiffBody) -> dict[str, Any]:
    return service.diff(body.project, body.source, body.target, mask_pov=body.mask_pov)


@router.get("/worldlines/graph", summary="Worldlines, fork and merge edges, ahead/behind and fast-forward info")
def worldline_graph(project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return service.graph(project)


@router.post("/worldlines/merge", summary="Three-way merge of a worldline (dry run, conflicts, resolutions)")
def worldline_merge(body: MergeBody) -> dict[str, Any]:
    return merging.merge(body.project, body.source, target=body.target, target_scene=body.target_scene,
                         target_scene_id=body.target_scene_id, dry_run=body.dry_run, resolutions=body.resolutions)
