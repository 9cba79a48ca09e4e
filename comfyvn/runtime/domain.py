"""The saves (runtime) domain plugin: save slots of runs, their events and routes."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "saves"

_SLOT = {"slot": "Slot name (case-folded)."}


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_save_written",
            "A run was saved to a slot (new or replaced).",
            {**_SLOT, "scene_id": "Scene id of the save, or null when it names none.",
             "node_id": "The node the save stands on (node_pointer).",
             "created": "True for a new slot, false when an existing save was replaced."},
        ),
        EventSpec(
            "on_save_loaded",
            "A save was resumed into a run state.",
            {**_SLOT, "scene_id": "Scene id resumed.", "node_id": "Node the run stands on.",
             "scene_changed": "True when the scene was edited since the save, null when unknown."},
        ),
        EventSpec("on_save_deleted", "A save slot was deleted.", dict(_SLOT)),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import saves

    return [saves.router]
