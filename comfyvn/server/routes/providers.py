"""The compute provider registry over HTTP (``config/compute_providers.json``) and health checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.compute import discover, providers
from comfyvn.server.routes.schedule import announce_health, get_scheduler
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/api/providers", tags=["providers"])

_EXAMPLE: dict[str, Any] = {"id": "gpu-box", "kind": "comfyui", "base_url": "http://192.168.1.20:8188", "label": "GPU box",
            "max_concurrent": 2, "cost_per_minute": 0.02, "vram_gb": 24, "tags": ["sdxl"]}
ProviderBody = Annotated[dict[str, Any], Body(examples=[_EXAMPLE])]
PatchBody = Annotated[dict[str, Any], Body(examples=[{"enabled": False}])]


Port = Annotated[int, Field(strict=True, ge=1, le=65535)]


class DiscoverBody(BaseModel):
    """Where to look for ComfyUI servers (every host is tried on every port)."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] | None = Field(default=None, min_length=1, max_length=discover.MAX_CANDIDATES,
                                    description="Host names or IP addresses; default 127.0.0.1 and localhost.",
                                    examples=[["127.0.0.1", "192.168.1.20"]])
    ports: list[Port] | None = Field(default=None, min_length=1, max_length=discover.MAX_CANDIDATES,
                                     description="Default 8188 (ComfyUI), 8000 (ComfyUI desktop), 8189, 8190.")
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                  description="Seconds per probe (default 1, kept within 0.1-5).")


def _shown(provider: providers.Provider, request: Request) -> dict[str, Any]:
    devices = {row["device"]: row for row in get_scheduler(request.app).state()["devices"]}
    row = devices.get(provider.id)
    health = {key: row[key] for key in ("status", "last_error", "last_check", "load")} if row else None
    return provider.model_dump() | {"health": health}


def _changed(request: Request, provider: providers.Provider) -> dict[str, Any]:
    get_scheduler(request.app, resync=True)
    return _shown(provider, request)


@router.get("", summary="Every compute provider (the built-in renderer first among equals), with its health")
def list_providers(request: Request) -> dict[str, Any]:
    return {"providers": [_shown(p, request) for p in providers.ProviderRegistry().list()]}


@router.post("/discover", summary="Look for ComfyUI servers (GET {http://host:port}/system_stats, all at once); "
             "registers nothing")
def discover_providers(body: DiscoverBody | None = None) -> dict[str, Any]:
    body = body or DiscoverBody()
    return discover.discover(body.hosts, body.ports, body.timeout)


@router.post("", status_code=201, summary="Add a compute provider (a ComfyUI server)")
def create_provider(request: Request, body: ProviderBody) -> dict[str, Any]:
    return _changed(request, providers.ProviderRegistry().create(body))


@router.get("/{provider_id}", summary="One compute provider")
def get_provider(provider_id: str, request: Request) -> dict[str, Any]:
    return _shown(providers.ProviderRegistry().get(provider_id), request)


@router.put("/{provider_id}", summary="Replace a provider's fields (unset fields take their defaults)")
def replace_provider(provider_id: str, request: Request, body: ProviderBody) -> dict[str, Any]:
    return _changed(request, providers.ProviderRegistry().replace(provider_id, body))


@router.patch("/{provider_id}", summary="Change some of a provider's fields")
def patch_provider(provider_id: str, request: Request, body: PatchBody) -> dict[str, Any]:
    return _changed(request, providers.ProviderRegistry().patch(provider_id, body))


@router.delete("/{provider_id}", summary="Remove a provider (its running jobs are requeued elsewhere)")
def delete_provider(provider_id: str, request: Request) -> dict[str, Any]:
    provider = providers.ProviderRegistry().delete(provider_id)
    get_scheduler(request.app, resync=True)
    return {"deleted": provider.id}


@router.post("/{provider_id}/check", summary="Probe the provider (ComfyUI: GET {base_url}/system_stats) and record its health")
def check_provider(provider_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    provider = providers.ProviderRegistry().get(provider_id)
    result = providers.check(provider)
    scheduler = get_scheduler(request.app)
    recorded = None
    if provider.enabled:
        recorded = scheduler.health(provider.id, result["status"], result["error"])
        announce_health(services.bus, recorded)
    return {"provider": provider.id, **result, "recorded": recorded is not None,
            "requeued": recorded["requeued"] if recorded else []}
