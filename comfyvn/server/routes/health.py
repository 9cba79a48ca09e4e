"""Liveness, status, metrics and a free port on the server's machine."""

from __future__ import annotations

import errno
import ipaddress
import os
import platform
import socket
from typing import Annotated, Any

import psutil
from fastapi import Query, Request

from comfyvn.config import feature_flags, runtime_paths
from comfyvn.config.baseurl_authority import find_open_port
from comfyvn.core.errors import Conflict, InvalidInput
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


def _bindable_host(host: str) -> str:
    """``host`` as an address this machine can bind (``localhost`` is 127.0.0.1); InvalidInput if not."""
    text = host.strip()
    address = "127.0.0.1" if text.lower() == "localhost" else text[1:-1] if text.startswith("[") else text
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise InvalidInput(f"host {host!r} is not an IP address (or 'localhost')",
                           details={"field": "query.host", "host": host}) from None
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                raise InvalidInput(f"{host!r} is not an address of the server's machine",
                                   details={"field": "query.host", "host": host}) from None
            raise
    return address


@router.get("/api/system/open_port", summary="The first port from `start` that `host` can bind on the server's machine")
def open_port(host: Annotated[str, Query(max_length=255)] = "127.0.0.1",
              start: Annotated[int, Query(ge=1, le=65535)] = 8001,
              count: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    address = _bindable_host(host)
    try:
        port = find_open_port(address, start, attempts=count)
    except OSError:
        last = min(start + count - 1, 65535)
        raise Conflict(f"no free port on {host} between {start} and {last}",
                       details={"host": host, "start": start, "count": count, "tried": last - start + 1}) from None
    return {"host": address, "port": port, "tried": port - start + 1}
