"""Projects and their records: ``/api/projects`` plus one CRUD router per kind (``/api/scenes``,
``/api/characters``, ``/api/timelines``, ``/api/worlds``), all built by :func:`collection_router`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from comfyvn.projects import store
from comfyvn.projects.kinds import KINDS
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

ProjectQ = Annotated[str, Query(description="Project id.")]
RevisionQ = Annotated[str | None, Query(description="Refuse with 409 unless the stored revision is this one.")]
ForceQ = Annotated[bool, Query(description="Delete even when other records depend on it.")]
Body = dict[str, Any]

router = domain_router(prefix="/api/projects", tags=["projects"])


@router.get("", summary="List projects")
def list_projects() -> dict[str, Any]:
    return {"items": store.list_projects()}


@router.post("", status_code=201, summary="Create a project")
def create_project(body: Body) -> dict[str, Any]:
    return store.create_project(body)


@router.get("/{project_id}", summary="A project record with counts of what it holds")
def get_project(project_id: str) -> dict[str, Any]:
    return store.get_project(project_id)


@router.patch("/{project_id}", summary="Change a project's name, description or metadata (deep merge)")
def patch_project(project_id: str, body: Body, expected_revision: RevisionQ = None) -> dict[str, Any]:
    return store.update_project(project_id, body, expected_revision=expected_revision)


@router.delete("/{project_id}", summary="Delete a project (force=true when it is not empty)")
def delete_project(project_id: str, force: ForceQ = False, expected_revision: RevisionQ = None) -> dict[str, Any]:
    return store.delete_project(project_id, force=force, expected_revision=expected_revision)


def collection_router(kind: str) -> APIRouter:
    """List/create/get/replace/patch/delete for one kind of project record."""
    items = store.collection(kind)
    folder = items.kind.folder
    sub = domain_router(prefix=f"/api/{folder}", tags=["projects"])

    @sub.get("", summary=f"List the {folder} of a project (summaries)")
    def list_items(project: ProjectQ = DEFAULT_PROJECT) -> dict[str, Any]:
        return {"project": project, "kind": kind, "items": items.list(project)}

    @sub.post("", status_code=201, summary=f"Create a {kind}")
    def create_item(body: Body, project: ProjectQ = DEFAULT_PROJECT) -> dict[str, Any]:
        return items.create(project, body)

    @sub.get("/{item_id}", summary=f"A {kind} with its revision")
    def get_item(item_id: str, project: ProjectQ = DEFAULT_PROJECT) -> dict[str, Any]:
        return items.get(project, item_id)

    @sub.put("/{item_id}", summary=f"Replace a {kind}")
    def replace_item(item_id: str, body: Body, project: ProjectQ = DEFAULT_PROJECT,
                     expected_revision: RevisionQ = None) -> dict[str, Any]:
        return items.replace(project, item_id, body, expected_revision=expected_revision)

    @sub.patch("/{item_id}", summary=f"Change part of a {kind} (deep merge; lists replace)")
    def patch_item(item_id: str, body: Body, project: ProjectQ = DEFAULT_PROJECT,
                   expected_revision: RevisionQ = None) -> dict[str, Any]:
        return items.patch(project, item_id, body, expected_revision=expected_revision)

    @sub.delete("/{item_id}", summary=f"Delete a {kind}")
    def delete_item(item_id: str, project: ProjectQ = DEFAULT_PROJECT, expected_revision: RevisionQ = None,
                    force: ForceQ = False) -> dict[str, Any]:
        return items.delete(project, item_id, expected_revision=expected_revision, force=force)

    return sub


def routers() -> list[APIRouter]:
    return [router, *(collection_router(kind) for kind in KINDS)]
