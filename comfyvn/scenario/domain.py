"""The scenario plugin: the scene model's validation and runner endpoints and their events."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "scenario"

_WHERE = {"scene_id": "Scene id.", "node_id": "Node id entered.", "pov": "Active point of view, or null."}


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_scene_enter",
            "The scenario runner entered a node (the start node of a new run, or after a step).",
            {**_WHERE, "step": "Steps taken so far (0 at the start node).",
             "finished": "True when this node ends the run."},
        ),
        EventSpec(
            "on_choice_render",
            "The runner is offering choices at a node (after POV, weight and condition filtering).",
            {**_WHERE, "choices": "List of {id, label, target} offered."},
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import scenario

    return [scenario.router]
