"""``create_app()``: builds the shared services and mounts every plugin's routers.

Usable as a uvicorn factory: ``uvicorn comfyvn.server.app:create_app --factory``. A router that
fails to import stops start-up with the error (nothing is skipped). Worker threads and WebSocket
bridges start in the lifespan, so building an app has no background side effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
from fastapi import FastAPI

from comfyvn import __version__
from comfyvn.config import feature_flags, runtime_paths
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks, plugins
from comfyvn.core.job_store import JobStore
from comfyvn.core.jobs import JobManager
from comfyvn.core.logs import setup_logging
from comfyvn.core.services import Services
from comfyvn.core.webhooks import WebhookService
from comfyvn.server import errors
from comfyvn.server.auth import ensure_token, is_loopback_host
from comfyvn.server.middleware import RequestMiddleware
from comfyvn.server.routes.modder import topic_of
from comfyvn.server.ws import Broadcaster

log = logging.getLogger(__name__)

JOBS_DB = "jobs.sqlite3"

# Coroutines run before uvicorn closes connections (see comfyvn.server.serve), so WebSocket
# clients get a "shutdown" message instead of a bare close.
before_shutdown: list[Callable[[], Awaitable[None]]] = []


def _router_name(router: Any) -> str:
    for route in router.routes:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None:
            return endpoint.__module__
    return getattr(router, "prefix", "") or "router"


def build_services() -> Services:
    """The shared services, without starting anything (also used by the CLI)."""
    bus_holder: dict[str, modder_hooks.HookBus] = {}

    def settings_changed(sections: list[str]) -> None:
        bus_holder["bus"].emit("settings.changed", {"sections": sections})

    settings = SettingsManager(on_change=settings_changed)
    bus = modder_hooks.reset(history_size=int(settings.get("modder.history_size")))
    bus_holder["bus"] = bus
    jobs = JobManager(
        JobStore(runtime_paths.data_dir() / JOBS_DB),
        workers=int(settings.get("jobs.workers")),
        history_limit=int(settings.get("jobs.history_limit")),
    )
    webhooks = WebhookService(
        settings=settings, bus=bus, enabled=lambda: feature_flags.is_enabled("enable_modder_webhooks")
    )
    return Services(settings=settings, bus=bus, jobs=jobs, webhooks=webhooks)


def create_app(*, require_token: bool | None = None, configure_logging: bool = True) -> FastAPI:
    """Build the server. ``require_token`` defaults to "bound beyond loopback", read from
    ``COMFYVN_SERVER_HOST`` (set by ``comfyvn serve`` and the launcher)."""
    runtime_paths.ensure_dirs()
    if configure_logging:
        setup_logging(console=True)
    host = os.environ.get("COMFYVN_SERVER_HOST", "127.0.0.1")
    token_required = require_token if require_token is not None else not is_loopback_host(host)
    token = ensure_token()[0] if token_required else None

    plugins.reset()
    feature_flags.refresh_cache()
    services = build_services()
    stream_options = {
        "queue_size": int(services.settings.get("modder.ws_queue_size")),
        "heartbeat_interval": float(services.settings.get("modder.ws_heartbeat_seconds")),
    }
    broadcasters = {name: Broadcaster(name, **stream_options) for name in ("jobs", "modder")}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for broadcaster in broadcasters.values():
            broadcaster.bind(loop)
        modder = broadcasters["modder"]
        jobs_stream = broadcasters["jobs"]
        unsubscribe_bus = services.bus.subscribe(
            "*", lambda env: modder.publish(topic_of(env["event"]), {"type": "event", "topic": topic_of(env["event"]), **env})
        )
        remove_jobs_listener = services.jobs.add_listener(lambda update: jobs_stream.publish("jobs", update))
        services.jobs.start()
        await services.webhooks.start()
        psutil.cpu_percent(interval=None)  # first reading primes the counter
        plugins.call("comfyvn_startup", services=services)

        async def close_streams() -> None:
            for broadcaster in broadcasters.values():
                await broadcaster.close_all()

        before_shutdown.append(close_streams)
        log.info("Server started", extra={"version": __version__, "token_required": token_required})
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                before_shutdown.remove(close_streams)
            await close_streams()
            plugins.call("comfyvn_shutdown", services=services)
            unsubscribe_bus()
            remove_jobs_listener()
            await services.webhooks.stop()
            await asyncio.to_thread(services.jobs.stop)
            services.jobs.store.close()
            log.info("Server stopped")

    app = FastAPI(
        title="ComfyVN",
        version=__version__,
        description="Turn AI roleplay into visual novels. Every error uses one envelope: "
        '`{"error": {"code", "message", "status", "request_id", "details"}}`.',
        lifespan=lifespan,
    )
    errors.install(app)
    mounted = []
    for owner, router in plugins.routers():
        app.include_router(router)
        mounted.append({"owner": owner, "name": _router_name(router), "routes": len(router.routes)})
    app.state.services = services
    app.state.broadcasters = broadcasters
    app.state.routers = mounted
    app.state.token_required = token_required
    max_body = int(services.settings.get("server.max_body_bytes"))
    app.add_middleware(RequestMiddleware, token=token, max_body_bytes=max_body)
    return app
