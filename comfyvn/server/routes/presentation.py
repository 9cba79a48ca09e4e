"""Presentation: the staging plan of a scene (who is on screen where, per beat)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from comfyvn.presentation import planner
from comfyvn.server.routing import SceneRef, domain_router

router = domain_router(prefix="/api/presentation", tags=["presentation"])


class PlanBody(SceneRef):
    node_id: str | None = Field(default=None, description="Plan only this node (its entry stage is still exact).")


@router.post("/plan", summary="What is on screen at each beat of a scene (or of one node)")
def plan(body: PlanBody) -> dict[str, Any]:
    return planner.plan(scene=body.scene, scene_id=body.scene_id, project=body.project, node_id=body.node_id)
