"""The diagnostics plugin: the support-bundle job."""

from __future__ import annotations

from comfyvn.core.jobs import JobKind
from comfyvn.core.plugins import hookimpl
from comfyvn.diagnostics.bundle import DiagnosticsParams

PLUGIN_NAME = "diagnostics"


@hookimpl
def comfyvn_job_kinds():
    return [
        JobKind(
            "system.diagnostics",
            handler="comfyvn.diagnostics.bundle:collect",
            description="Write a support bundle (versions, paths, flags, redacted settings, recent logs) "
            "to <data>/diagnostics/.",
            params=DiagnosticsParams,
        )
    ]
