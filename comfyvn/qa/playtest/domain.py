"""The playtest domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "playtest"

FLAG = "enable_playtest_harness"
_RUN = {"run_id": "Id of the playtest run (ties the start, step and finished events together)."}


@hookimpl
def comfyvn_flags():
    return [
        Flag(FLAG, default=False,
             description="Headless playtest runs, golden traces and choice-path coverage over HTTP "
                         "(/api/playtest/*)."),
    ]


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_playtest_start",
            "A headless playtest run started (not emitted by dry runs).",
            {"scene_id": "Scene id.", "seed": "Seed of the run (integer or string).",
             "pov": "Point of view of the run, or null.", **_RUN},
        ),
        EventSpec(
            "on_playtest_step",
            "A playtest run took one step (not emitted by dry runs).",
            {**_RUN, "step": "Step number (1 for the first step after the start node).",
             "node_id": "Node entered.", "choice_id": "Choice taken, or null when the node's next was followed."},
        ),
        EventSpec(
            "on_playtest_finished",
            "A playtest run ended, or failed after it started (not emitted by dry runs).",
            {**_RUN, "scene_id": "Scene id.", "digest": "SHA-256 of the canonical trace (null when the run failed).",
             "steps": "Steps taken.", "finished": "True when the story ended; false when max_steps stopped it.",
             "reason": "'end', 'dead_end', 'no_choices', 'max_steps', or 'error' (a forced choice was not on offer)."},
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import playtest

    return [playtest.router]
