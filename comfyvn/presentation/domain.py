"""The presentation domain plugin: its routes (no flags, no events)."""

from __future__ import annotations

from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "presentation"


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import presentation

    return [presentation.router]
