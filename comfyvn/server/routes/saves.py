"""Saves: store a run's position in a slot, list, read, delete and resume saves.

Slot paths use the ``path`` converter so that names with '/' (``a%2Fb``, ``..%2Fx``) reach the
handler and get a clear 422 instead of "no endpoint". The price: ``GET``/``DELETE`` on
``/api/save/list`` and ``/api/save/{slot}/resume`` land in the catch-all handlers, which answer
405 for them like any other wrong method.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from comfyvn.runtime import savepoints
from comfyvn.scenario import service
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/save", tags=["saves"])

SAVE_EXAMPLE = {  # the example scene of docs/scenario.md after the choice "order"
    "vars": {"ordered": True, "trust": 0}, "node_pointer": "counter", "seed": 42, "rng": "000000000000002a",
    "step": 1, "scene_id": "cafe_meeting", "label": "At the counter", "metadata": {"chapter": 1},
}


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene: dict[str, Any] | None = Field(default=None, description="The scene itself.")
    scene_id: str | None = Field(default=None, description="A stored scene; default: the save's scene.")
    project: str | None = Field(default=None, description="Project of scene_id; default: the save's project.")


def _not_allowed(slot: str, *, also: tuple[str, ...] = ()) -> None:
    """405 for the fixed paths (list, .../resume) that the catch-all slot routes also match."""
    if slot.endswith("/resume"):
        raise HTTPException(405, headers={"Allow": "POST"})
    if slot in also:
        raise HTTPException(405, headers={"Allow": "GET"})


@router.get("/list", summary="Every save, newest first (summaries)")
def list_saves() -> dict[str, Any]:
    return {"saves": savepoints.summaries()}


@router.post("/{slot:path}/resume", summary="Resume a save: the run state at the saved node")
def resume(slot: str, body: ResumeBody | None = None) -> dict[str, Any]:
    body = body or ResumeBody()
    runner, state, changed = savepoints.resume(slot, scene=body.scene, scene_id=body.scene_id, project=body.project)
    return service.describe(runner, state) | {"slot": savepoints.check_slot(slot), "scene_changed": changed}


@router.get("/{slot:path}", summary="Read a save")
def read(slot: str) -> dict[str, Any]:
    _not_allowed(slot)
    return savepoints.read(slot)


@router.post("/{slot:path}", summary="Save a run to a slot (replaces an existing save)")
def write(slot: str, body: Annotated[dict[str, Any], Body(examples=[SAVE_EXAMPLE])]) -> dict[str, Any]:
    """The body: ``{vars, node_pointer, seed}`` plus optional ``rng``, ``scene_id``, ``project``,
    ``pov``, ``step``, ``label``/``title``, ``metadata``, ``scene``; or ``{"state": <RunState>}``."""
    record, created = savepoints.write(slot, body)
    return {"save": record, "created": created}


@router.delete("/{slot:path}", summary="Delete a save")
def delete(slot: str) -> dict[str, Any]:
    _not_allowed(slot, also=("list",))
    return {"slot": savepoints.delete(slot), "deleted": True}
