"""Helpers every route module uses: one router factory (flag gate + error envelope docs) and the
dependency that hands a route the shared services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.config import feature_flags
from comfyvn.core.errors import FeatureDisabled
from comfyvn.core.services import Services
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.errors import ERROR_RESPONSES


def _services(request: Request) -> Services:
    return request.app.state.services


def _ws_services(websocket: WebSocket) -> Services:
    return websocket.app.state.services


ServicesDep = Annotated[Services, Depends(_services)]
WsServicesDep = Annotated[Services, Depends(_ws_services)]


def require_flag(flag: str) -> Callable[[], None]:
    """A dependency answering the canonical 'feature disabled' error (403) while ``flag`` is off."""

    def check() -> None:
        if not feature_flags.is_enabled(flag):
            raise FeatureDisabled(flag)

    check.__name__ = f"require_{flag}"
    return check


def domain_router(*, prefix: str = "", tags: list[str] | None = None, flag: str | None = None,
                  **kwargs: Any) -> APIRouter:
    """The router of one domain: every route documents the error envelope and, with ``flag``,
    answers 403 ``feature_disabled`` while the flag is off."""
    dependencies = [Depends(require_flag(flag))] if flag else []
    return APIRouter(prefix=prefix, tags=tags, dependencies=dependencies, responses=ERROR_RESPONSES, **kwargs)


class SceneRef(BaseModel):
    """A request body naming a scene: inline (``scene``) or stored (``scene_id`` in ``project``)."""

    model_config = ConfigDict(extra="forbid")

    scene: dict[str, Any] | None = Field(default=None, description="The scene itself.")
    scene_id: str | None = Field(default=None, description="A stored scene (with 'project').")
    project: str = DEFAULT_PROJECT

    def resolve(self) -> Any:
        """The validated ``Scene`` (422 listing the errors; 404 for an unknown stored scene)."""
        from comfyvn.scenario.service import resolve_scene

        return resolve_scene(self.scene, self.scene_id, self.project)
