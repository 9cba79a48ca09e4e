"""The saves (runtime) domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "saves"


@hookimpl
def comfyvn_routers():
    return []
