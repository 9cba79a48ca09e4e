"""The render plugin: render job kinds and the ``/api/render`` routes."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.jobs import JobKind
from comfyvn.core.plugins import hookimpl
from comfyvn.render import jobs

PLUGIN_NAME = "render"


HARDENING_FLAG = "enable_comfy_bridge_hardening"


@hookimpl
def comfyvn_flags():
    return [Flag(HARDENING_FLAG, default=False,
                 description="Hardened ComfyUI bridge: prompt overrides (setting render.prompt_overrides), the "
                             "character's whole LoRA stack injected into every graph, and /history polled every "
                             "second even while the socket talks.")]


@hookimpl
def comfyvn_job_kinds():
    return [
        JobKind("render.background", "comfyvn.render.jobs:run_background",
                "Render a background (location, time of day, weather) into the project's assets.",
                params=jobs.BackgroundParams),
        JobKind("render.sprites", "comfyvn.render.jobs:run_sprites",
                "Render a character's sprites, one per expression, into the project's assets.",
                params=jobs.SpritesParams),
        JobKind("render.portrait", "comfyvn.render.jobs:run_portrait",
                "Render a character portrait into the project's assets.", params=jobs.PortraitParams),
        JobKind("render.template", "comfyvn.render.jobs:run_template",
                "Run a workflow template on a ComfyUI server and register the image.", params=jobs.TemplateParams),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import render

    return [render.router]


@hookimpl
def comfyvn_shutdown(services):
    from comfyvn.render.comfyui import close_all

    close_all()  # the ComfyUI sockets and their watcher threads
