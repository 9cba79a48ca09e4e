"""The perf plugin: its flags, its hook-bus events, the ``/api/perf`` routes, and the budget
manager's hook into the job manager at server start-up."""

from __future__ import annotations

import logging

from comfyvn.config.feature_flags import Flag
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "perf"

log = logging.getLogger(__name__)


@hookimpl
def comfyvn_flags():
    return [
        Flag("enable_perf_budgets", default=False,
             description="Perf budgets: job queue caps, CPU/VRAM limits (jobs over them wait as delayed), "
                         "lazy asset eviction, and the /api/perf budget, job and asset routes."),
        Flag("enable_perf_profiler_dashboard", default=False,
             description="The perf profiler's HTTP routes: mark, dashboard and reset under /api/perf/profiler."),
    ]


@hookimpl
def comfyvn_events():
    return [
        EventSpec("on_perf_budget_state", "The perf budgets' verdict changed between ok and constrained.", {
            "state": "The new verdict: 'ok' or 'constrained'.",
            "previous": "The verdict before.",
            "reasons": "One message per limit reached (empty when ok).",
            "exceeded": "The names of the limits reached, e.g. 'max_running_jobs'.",
            "metrics": "The readings: queued_jobs, running_jobs, delayed_jobs, cpu_percent, vram_gb, "
                       "devices, cached_assets, cached_bytes.",
        }),
        EventSpec("on_perf_profiler_snapshot", "A profiler snapshot was taken through the API.", {
            "taken_at": "Unix time of the snapshot.",
            "capacity": "How many samples the ring buffer keeps.",
            "samples": "Samples in the buffer.",
            "dropped": "Samples pushed out of the buffer since the last reset.",
            "stats": "Per name: count, timed, p50_ms, p95_ms, max_ms, mean_ms, total_ms, last_at.",
        }),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import perf

    return [perf.router, perf.profiler_router]


@hookimpl
def comfyvn_startup(services):
    from comfyvn.perf import budget_manager

    missing = [name for name in ("settings", "bus", "jobs") if not hasattr(services, name)]
    if missing:  # not a server's Services (a test calling the hook by hand): nothing to hook into
        log.warning("Perf budgets not installed: start-up services lack %s", ", ".join(missing))
        return
    budget_manager.install(services)


@hookimpl
def comfyvn_shutdown(services):
    from comfyvn.perf import budget_manager

    budget_manager.uninstall()
