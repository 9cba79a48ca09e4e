"""The llm plugin: the provider status routes (``/api/llm/*``)."""

from __future__ import annotations

from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "llm"


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import llm

    return [llm.router]
