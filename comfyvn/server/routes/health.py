"""Liveness, status and metrics."""

from __future__ import annotations

import os
import platform
from typing import Any

import psutil
from fastapi import Request

from comfyvn.config import feature_flags, runtime_paths
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(tags=["system"])


@router.get("/health", summary="Liveness probe")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/healthz", summary="Liveness probe (Kubernetes spelling)")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/status", summary="Version, uptime, enabled flags and mounted routers")
def status(request: Request, services: ServicesDep) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": services.version,
        "started_at": services.started_at,
        "uptime_seconds": round(services.uptime, 3),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "flags": {"enabled": feature_flags.enabled()},
        "routers": request.app.state.routers,
        "auth_required": request.app.state.token_required,
    }


@router.get("/system/metrics", summary="CPU, memory, disk and queue depths")
def metrics(request: Request, services: ServicesDep) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    data = runtime_paths.data_dir()
    disk = psutil.disk_usage(str(data if data.exists() else data.anchor or "/"))
    process = psutil.Process()
    with process.oneshot():
        rss = process.memory_info().rss
        threads = process.num_threads()
        proc_cpu = process.cpu_percent(interval=None)
    jobs = services.jobs.counts()
    hubs = request.app.state.broadcasters
    return {
        "cpu": {"percent": psutil.cpu_percent(interval=None), "count": psutil.cpu_count(), "process_percent": proc_cpu},
        "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent, "process_rss": rss},
        "disk": {"path": str(data), "total": disk.total, "free": disk.free, "percent": disk.percent},
        "process": {"pid": os.getpid(), "threads": threads, "uptime_seconds": round(services.uptime, 3)},
        "queues": {
            "jobs": {"queued": jobs["queued"], "delayed": jobs["delayed"], "running": jobs["running"]},
            "webhook_deliveries": services.webhooks.pending(),
            "websockets": {name: hub.stats() for name, hub in hubs.items()},
            "hook_bus": {"emitted": services.bus.emitted, "listener_errors": services.bus.listener_errors,
                         "listeners": services.bus.listener_count()},
        },
    }
