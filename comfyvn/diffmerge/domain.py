"""The diffmerge domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "diffmerge"

_PAIR = {
    "project": "Project id.",
    "source": "Source label: a worldline id, 'scene:<id>' (stored scene), 'inline:<id>' or '<worldline>@base'.",
    "target": "Target label, same forms as source.",
}


@hookimpl
def comfyvn_flags():
    return [
        Flag(
            "enable_diffmerge_tools",
            default=False,
            description="Scene diffs (with POV masks), the worldline graph and worldline merges under /api/diffmerge.",
        ),
    ]


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_worldline_diff",
            "Two scene versions (scenes or worldlines) were compared node by node.",
            {**_PAIR, "added": "Nodes only the target has.", "removed": "Nodes only the source has.",
             "changed": "Nodes both have with different content."},
        ),
        EventSpec(
            "on_worldline_merge",
            "A worldline merge was computed (dry run or real).",
            {**_PAIR, "fast_forward": "True when the target had not changed since the common base.",
             "conflicts": "Number of conflicts found (resolved or not).",
             "dry_run": "True when nothing was meant to be written.",
             "applied": "True when the merged scene was written."},
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import diffmerge

    return [diffmerge.router]
