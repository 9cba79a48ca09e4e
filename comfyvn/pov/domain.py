"""The pov domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "pov"


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import pov

    return [pov.router]
