"""The export plugin: the ``export.renpy`` job, the publish flags and events, and the ``/api/export`` routes."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.jobs import JobKind
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl
from comfyvn.export.jobs import ExportParams
from comfyvn.export.packages import PUBLISH_FLAG, TARGET_FLAGS

PLUGIN_NAME = "export"


@hookimpl
def comfyvn_flags():
    return [
        Flag(PUBLISH_FLAG, default=False,
             description="POST /api/export/publish: export a project and package it for stores (Steam, itch) with "
                         "licence manifest, provenance, icon, EULA and licence."),
        Flag(TARGET_FLAGS["steam"], default=False,
             description="Allow the 'steam' target of /api/export/publish (steamcmd app and depot build scripts)."),
        Flag(TARGET_FLAGS["itch"], default=False,
             description="Allow the 'itch' target of /api/export/publish (an itch app manifest, .itch.toml)."),
    ]


@hookimpl
def comfyvn_events():
    return [
        EventSpec("on_export_publish_preview", "A dry run of /api/export/publish finished (nothing was written).",
                  {"project": "Project id.", "targets": "Targets previewed, e.g. ['steam', 'itch'].",
                   "changes": "Per target: counts of archive entries added, changed, removed and unchanged."}),
        EventSpec("on_export_publish_complete", "Store packages were written by /api/export/publish.",
                  {"project": "Project id.", "targets": "Targets packaged.",
                   "archives": "One {target, path, sha256, bytes} per archive written."}),
    ]


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
    from comfyvn.server.routes import export, export_publish, viewer

    return [export.router, export_publish.router, viewer.router]
