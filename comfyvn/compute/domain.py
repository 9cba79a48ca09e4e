"""The compute plugin: the device health event and the ``/api/schedule`` and ``/api/providers`` routes."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "compute"

HEALTH_EVENT = "on_compute_health_changed"


@hookimpl
def comfyvn_events():
    return [
        EventSpec(HEALTH_EVENT, "A compute device's health changed (or it went down and its jobs were requeued).", {
            "device": "Device (provider) id.",
            "status": "New health: healthy, degraded or down.",
            "previous": "Health before this check.",
            "last_error": "Why it is not healthy (null when healthy).",
            "requeued": "Ids of the running jobs put back in the queue (failover).",
        }),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import providers, schedule

    return [schedule.router, providers.router]
