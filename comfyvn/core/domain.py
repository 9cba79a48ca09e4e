"""The core plugin: flags, events and routes of the machinery itself (server, settings, flags,
hook bus, jobs)."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "core"


@hookimpl
def comfyvn_flags():
    return [
        Flag(
            "enable_modder_webhooks",
            default=False,
            description="Deliver hook-bus events to registered webhook URLs (outbound HTTP; off by default).",
        ),
    ]


_JOB = {"job_id": "Job id.", "kind": "Job kind, e.g. 'system.diagnostics'."}


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "flags.changed",
            "A feature flag was switched on or off.",
            {"name": "Flag name.", "enabled": "New value.", "previous": "Value before the change."},
        ),
        EventSpec(
            "settings.changed",
            "Settings were saved.",
            {"sections": "Top-level settings sections the change touched."},
        ),
        EventSpec(
            "on_job_submitted",
            "A job entered the queue.",
            {**_JOB, "state": "'queued' or 'delayed'.", "priority": "Higher runs first."},
        ),
        EventSpec("on_job_started", "A worker started running a job.", dict(_JOB)),
        EventSpec(
            "on_job_progress",
            "A running job reported progress (at most ten times a second per job).",
            {**_JOB, "progress": "0..1, or null when unknown.", "message": "What the job is doing."},
        ),
        EventSpec(
            "on_job_finished",
            "A job ended.",
            {
                **_JOB,
                "state": "'succeeded', 'failed' or 'cancelled'.",
                "error": "Error message for failed jobs, else null.",
                "duration_sec": "Run time in seconds, null if it never started.",
            },
        ),
        EventSpec(
            "on_modder_test",
            "Emitted by POST /api/modder/hooks/test so modders can exercise their listeners.",
            {"message": "Free text.", "data": "Any JSON value."},
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import flags, health, jobs, logs, modder, settings

    return [health.router, settings.router, flags.router, modder.router, modder.webhooks_router, jobs.router,
            logs.router]
