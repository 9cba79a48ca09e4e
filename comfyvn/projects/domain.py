"""The projects domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "projects"


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_project_changed",
            "A project record, scene, character, timeline or world was created, updated or deleted.",
            {"project": "Project id.",
             "kind": "What changed: 'project', 'scene', 'character', 'timeline', 'world' or 'translation'.",
             "id": "Id of the record that changed (the project id when kind is 'project').",
             "action": "'created', 'updated' or 'deleted'."},
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import projects

    return projects.routers()
