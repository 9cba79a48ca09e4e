"""The player plugin: the persona registry's routes (``/player/*``)."""

from __future__ import annotations

from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "player"


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import player

    return [player.router]
