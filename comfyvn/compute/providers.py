"""The compute provider registry (``config/compute_providers.json``), provider health checks and
the device pricing (cost telemetry) the scheduler uses.

A provider is a place render jobs run: a ComfyUI server (local or remote) or the built-in
renderer (``builtin``, always listed; it can be edited or disabled but not deleted). Each enabled
provider is a device of the scheduler.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from comfyvn.config import runtime_paths
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import JsonDocument

log = logging.getLogger(__name__)

FILE_NAME = "compute_providers.json"
BUILTIN = "builtin"
CHECK_TIMEOUT = 3.0  # seconds for a health check
GB = 1_000_000_000  # bytes in a billed gigabyte


@dataclass
class Device:
    """The scheduler's view of a provider: where jobs run and what that costs (prices default to 0)."""

    id: str
    location: str = "local"  # "local" or "remote": which pool it serves besides "any"
    max_concurrent: int = 1
    priority: int = 0
    kind: str = "comfyui"
    label: str = ""
    cost_per_minute: float = 0.0
    ingress_per_gb: float = 0.0  # bytes we send to the device
    egress_per_gb: float = 0.0  # bytes we get back from it
    cost_per_vram_gb_minute: float = 0.0
    vram_gb: float = 0.0
    base_url: str = ""  # where a ComfyUI device answers

    def cost(self, duration_sec: float, bytes_tx: int, bytes_rx: int, vram_gb: float | None = None) -> dict[str, Any]:
        """Cost telemetry of one job; the formula is in docs/compute.md."""
        minutes = duration_sec / 60.0
        vram_minutes = (self.vram_gb if vram_gb is None else vram_gb) * minutes
        cost = (minutes * self.cost_per_minute + vram_minutes * self.cost_per_vram_gb_minute
                + bytes_tx / GB * self.ingress_per_gb + bytes_rx / GB * self.egress_per_gb)
        return {"cost_estimate": round(cost, 6), "duration_sec": round(duration_sec, 6), "bytes_tx": bytes_tx,
                "bytes_rx": bytes_rx, "vram_minutes": round(vram_minutes, 6)}


class Provider(BaseModel):
    """One compute provider, as stored and as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="Lower-case id, e.g. 'gpu-box'.")
    kind: Literal["comfyui", "builtin"] = "comfyui"
    base_url: str = Field(default="", description="http(s) root of a ComfyUI server; empty for builtin.")
    label: str = Field(default="", max_length=200)
    location: Literal["local", "remote"] | None = Field(
        default=None, description="Queue it serves; default: local for loopback URLs, else remote.")
    max_concurrent: int = Field(default=1, ge=1, le=256)
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher is listed (and polled) first.")
    cost_per_minute: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    ingress_per_gb: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="Price per GB sent to it.")
    egress_per_gb: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="Price per GB received.")
    cost_per_vram_gb_minute: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    vram_gb: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _check(self) -> Provider:
        if self.kind == "builtin":
            if self.id != BUILTIN:
                raise ValueError(f"only the provider '{BUILTIN}' has kind 'builtin'; use kind 'comfyui'")
            if self.base_url:
                raise ValueError("the built-in renderer has no base_url; leave it empty")
            self.location = "local"
            return self
        if self.id == BUILTIN:
            raise ValueError(f"the id '{BUILTIN}' is the built-in renderer's; choose another id")
        parts = urlsplit(self.base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL with a host, not {self.base_url!r}")
        self.base_url = self.base_url.strip().rstrip("/")
        if self.location is None:
            self.location = "local" if is_loopback(parts.hostname) else "remote"
        return self

    def device(self) -> Device:
        """The scheduler's view of this provider."""
        return Device(id=self.id, location=self.location or "local", max_concurrent=self.max_concurrent,
                      priority=self.priority, kind=self.kind, label=self.label, cost_per_minute=self.cost_per_minute,
                      ingress_per_gb=self.ingress_per_gb, egress_per_gb=self.egress_per_gb,
                      cost_per_vram_gb_minute=self.cost_per_vram_gb_minute, vram_gb=self.vram_gb,
                      base_url=self.base_url)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_builtin() -> Provider:
    return Provider(id=BUILTIN, kind="builtin", label="Built-in renderer", max_concurrent=1)


def validate(data: Mapping[str, Any]) -> Provider:
    """A provider from user data, or InvalidInput listing every problem."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a provider must be a JSON object")
    try:
        return Provider.model_validate(dict(data))
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in err["loc"]) or "provider", "message": err["msg"],
                   "type": err["type"]} for err in exc.errors()]
        first = errors[0]
        raise InvalidInput(f"invalid provider: {first['field']}: {first['message']}", details={"errors": errors}) from None


class ProviderRegistry:
    """CRUD over ``config/compute_providers.json``: ``{"version": 1, "providers": {id: fields}}``."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or runtime_paths.config_file(FILE_NAME)

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever the file does (for callers that cache what they built from it)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _stored(self) -> dict[str, Any]:
        providers = JsonDocument(self.path).read().get("providers")
        return providers if isinstance(providers, dict) else {}

    def list(self) -> list[Provider]:
        stored = self._stored()
        found = {BUILTIN: default_builtin()}
        for provider_id, fields in sorted(stored.items()):
            try:
                found[provider_id] = validate({**(fields if isinstance(fields, dict) else {}), "id": provider_id})
            except InvalidInput as exc:  # a hand-edited file: keep serving the others
                log.error("Ignoring an invalid compute provider", extra={"provider": provider_id, "error": exc.message})
        return sorted(found.values(), key=lambda p: (-p.priority, p.id))

    def get(self, provider_id: str) -> Provider:
        for provider in self.list():
            if provider.id == provider_id:
                return provider
        raise NotFound(f"compute provider '{provider_id}' was not found; list them at /api/providers",
                       details={"kind": "provider", "id": provider_id})

    def devices(self) -> list[Device]:
        """Devices for the scheduler: every enabled provider."""
        return [provider.device() for provider in self.list() if provider.enabled]

    def create(self, data: Mapping[str, Any]) -> Provider:
        provider = validate(data)
        if provider.id == BUILTIN or provider.id in self._stored():
            raise Conflict(f"compute provider '{provider.id}' already exists; use PUT or PATCH to change it",
                           details={"id": provider.id})
        return self._save(provider, must_exist=False)

    def replace(self, provider_id: str, data: Mapping[str, Any]) -> Provider:
        self.get(provider_id)
        return self._save(self._with_id(provider_id, dict(data)), must_exist=True)

    def patch(self, provider_id: str, data: Mapping[str, Any]) -> Provider:
        current = self.get(provider_id).model_dump()
        return self._save(self._with_id(provider_id, {**current, **dict(data)}), must_exist=True)

    def delete(self, provider_id: str) -> Provider:
        provider = self.get(provider_id)
        if provider_id == BUILTIN:
            raise Conflict("the built-in renderer cannot be deleted; PATCH it with enabled=false to stop using it",
                           details={"id": provider_id})

        def change(data: dict[str, Any]) -> None:
            data.setdefault("providers", {}).pop(provider_id, None)

        JsonDocument(self.path).mutate(change)
        return provider

    @staticmethod
    def _with_id(provider_id: str, data: dict[str, Any]) -> Provider:
        if data.get("id", provider_id) != provider_id:
            raise InvalidInput(f"the body's id {data['id']!r} differs from the provider '{provider_id}' in the URL; "
                               "ids cannot change (create a new provider instead)", details={"field": "id"})
        return validate({**data, "id": provider_id})

    def _save(self, provider: Provider, *, must_exist: bool) -> Provider:
        fields = provider.model_dump(exclude={"id"})

        def change(data: dict[str, Any]) -> None:
            providers = data.get("providers")
            if not isinstance(providers, dict):
                providers = data["providers"] = {}
            if not must_exist and provider.id in providers:
                raise Conflict(f"compute provider '{provider.id}' already exists", details={"id": provider.id})
            providers[provider.id] = fields
            data["version"] = 1

        JsonDocument(self.path).mutate(change)
        return provider


def check(provider: Provider, *, timeout: float = CHECK_TIMEOUT,
          transport: httpx.BaseTransport | None = None, quiet: bool = False) -> dict[str, Any]:
    """Probe a provider: ComfyUI answers ``GET {base_url}/system_stats``. Returns
    ``{status, error, system, devices}``; status is healthy, degraded (answers, but not as ComfyUI
    does) or down (no answer). Errors are short and name the URL, never a traceback. ``quiet``: no
    warning in the log for an unreachable server (discovery expects most candidates to be)."""
    if provider.kind == "builtin":
        return {"status": "healthy", "error": None, "system": {"renderer": "builtin"}, "devices": []}
    url = f"{provider.base_url}/system_stats"
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
            response = client.get(url)
    except httpx.TimeoutException:
        return _down(f"no answer from {url} within {timeout:g} s")
    except httpx.HTTPError as exc:
        if not quiet:
            log.warning("Compute provider unreachable",
                        extra={"provider": provider.id, "url": url, "error": repr(exc)})
        return _down(f"cannot reach {url} ({type(exc).__name__})")
    if response.status_code != 200:
        return {"status": "degraded", "error": f"{url} answered HTTP {response.status_code}", "system": {},
                "devices": []}
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("system"), dict):
        return {"status": "degraded", "error": f"{url} did not answer with ComfyUI system stats", "system": {},
                "devices": []}
    devices = [{key: item.get(key) for key in ("name", "type", "vram_total", "vram_free")}
               for item in body.get("devices") or [] if isinstance(item, dict)]
    system = {key: body["system"].get(key) for key in ("os", "comfyui_version", "python_version", "pytorch_version")
              if key in body["system"]}
    return {"status": "healthy", "error": None, "system": system, "devices": devices}


def _down(message: str) -> dict[str, Any]:
    return {"status": "down", "error": message, "system": {}, "devices": []}


def enabled_comfyui_urls(registry: ProviderRegistry | None = None) -> list[str]:
    """Base URLs of the enabled ComfyUI providers, highest priority first (renders use the first)."""
    providers = [p for p in (registry or ProviderRegistry()).list() if p.kind == "comfyui" and p.enabled]
    return [p.base_url for p in sorted(providers, key=lambda p: (-p.priority, p.id))]
