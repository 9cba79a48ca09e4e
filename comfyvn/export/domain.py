"""The export plugin: the ``export.renpy`` job and the ``/api/export`` routes."""

from __future__ import annotations

from comfyvn.core.jobs import JobKind
from comfyvn.core.plugins import hookimpl
from comfyvn.export.jobs import ExportParams

PLUGIN_NAME = "export"


@hookimpl
def comfyvn_job_kinds():
    return [JobKind("export.renpy", "comfyvn.export.jobs:run_export",
                    "Export a project as a Ren'Py project and lint it.", params=ExportParams)]


@hookimpl
def comfyvn_shutdown(services):
    from comfyvn.export import viewer

    viewer.stop()  # no game left running after the server


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import export, viewer

    return [export.router, viewer.router]
