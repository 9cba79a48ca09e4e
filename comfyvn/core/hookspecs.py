"""The whole plugin API in one file. Core domains use the same hooks as third-party plugins.

Implement any of these in a module (decorate with ``comfyvn.core.plugins.hookimpl``) and register
it: core domains are listed in ``comfyvn.core.plugins.CORE_PLUGINS``, installed packages use the
``comfyvn`` entry-point group, and files in the dev plugin folder load when ``COMFYVN_DEV_MODE=1``.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("comfyvn")


@hookspec
def comfyvn_flags():
    """Return the feature flags (``comfyvn.config.feature_flags.Flag``) this plugin declares."""


@hookspec
def comfyvn_events():
    """Return the hook-bus events (``comfyvn.core.modder_hooks.EventSpec``) this plugin declares."""


@hookspec
def comfyvn_job_kinds():
    """Return the job kinds (``comfyvn.core.jobs.JobKind``) this plugin can run."""


@hookspec
def comfyvn_routers():
    """Return the FastAPI routers this plugin mounts on the server."""


@hookspec
def comfyvn_startup(services):
    """Called once when the server has built its shared services (bus, jobs, settings)."""


@hookspec
def comfyvn_shutdown(services):
    """Called once when the server stops."""
