"""Perf: budgets, external job lifecycle, device VRAM reports and the asset working set (flag
enable_perf_budgets); the profiler's mark, dashboard and reset (flag enable_perf_profiler_dashboard)."""

from __future__ import annotations

from typing import Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.core import modder_hooks
from comfyvn.perf import budget_manager, perf_profiler
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/perf", tags=["perf"], flag="enable_perf_budgets")
profiler_router = domain_router(prefix="/api/perf/profiler", tags=["perf"], flag="enable_perf_profiler_dashboard")


class Limits(BaseModel):
    """Only the limits given change; null removes a limit."""

    model_config = ConfigDict(extra="forbid")

    max_queued_jobs: int | None = Field(default=None, ge=0)
    max_running_jobs: int | None = Field(default=None, ge=0)
    max_cpu_percent: float | None = Field(default=None, ge=0, le=100)
    max_vram_gb: float | None = Field(default=None, ge=0)
    max_cached_assets: int | None = Field(default=None, ge=0)
    max_cached_bytes: int | None = Field(default=None, ge=0)
    retry_delay_seconds: float | None = Field(default=None, gt=0, le=3600)
    device_report_ttl_seconds: float | None = Field(default=None, gt=0)


class DeviceReport(BaseModel):
    device: str = Field(min_length=1, description="The device, e.g. a ComfyUI server id.")
    vram_used_gb: float = Field(ge=0)
    vram_total_gb: float | None = Field(default=None, ge=0)


class JobRef(BaseModel):
    job_id: str = Field(min_length=1)
    kind: str = ""
    device: str | None = None


class AssetBody(BaseModel):
    key: str = Field(min_length=1, description="The asset uid or path.")
    bytes: int = Field(default=0, ge=0)
    pinned: bool = False
    cache_path: str | None = Field(default=None, description="The file's path in the dedup cache, if cached.")


class AssetKey(BaseModel):
    key: str = Field(min_length=1)


class EvictBody(BaseModel):
    dry_run: bool = False
    release_cache: bool = False


class MarkBody(BaseModel):
    name: str = Field(min_length=1, max_length=perf_profiler.MAX_NAME_LENGTH)
    duration_ms: float | None = Field(default=None, ge=0, description="Omit to count an instant event.")


def _budgets() -> budget_manager.BudgetManager:
    return budget_manager.default()


@router.get("/budgets", summary="Limits, readings and the verdict (ok or constrained)")
def get_budgets() -> dict[str, Any]:
    return _budgets().state()


@router.put("/budgets", summary="Change some limits (persisted in settings section 'perf')")
def set_budgets(body: Limits) -> dict[str, Any]:
    manager = _budgets()
    patch = body.model_dump(exclude_unset=True)
    for key in ("retry_delay_seconds", "device_report_ttl_seconds"):
        if key in patch and patch[key] is None:
            patch[key] = budget_manager.DEFAULT_LIMITS[key]
    manager.set_limits(patch)
    return manager.state()


@router.post("/budgets/apply", summary="Re-read limits, evaluate, evict assets over the asset limits")
def apply_budgets() -> dict[str, Any]:
    return _budgets().apply()


@router.post("/devices/report", summary="Report a device's VRAM use (checked against max_vram_gb)")
def report_device(body: DeviceReport) -> dict[str, Any]:
    return _budgets().report_device(body.device, body.vram_used_gb, body.vram_total_gb)


@router.get("/jobs", summary="External jobs the budgets count (registered through /api/perf/jobs)")
def list_jobs() -> dict[str, Any]:
    return {"jobs": _budgets().external_jobs()}


@router.post("/jobs/register", summary="Ask to queue external work: status queued, or delayed with retry_after")
def register_job(body: JobRef) -> dict[str, Any]:
    return _budgets().register_job(body.job_id, body.kind, body.device)


@router.post("/jobs/start", summary="An external job started running")
def start_job(body: JobRef) -> dict[str, Any]:
    return _budgets().start_job(body.job_id)


@router.post("/jobs/finish", summary="An external job finished (frees its capacity)")
def finish_job(body: JobRef) -> dict[str, Any]:
    return _budgets().finish_job(body.job_id)


@router.get("/assets", summary="The asset working set, least recently used first")
def list_assets() -> dict[str, Any]:
    return {"assets": _budgets().assets()}


@router.post("/assets/register", summary="Add an asset to the working set (evicts lazily when over the limits)")
def register_asset(body: AssetBody) -> dict[str, Any]:
    return _budgets().register_asset(body.key, body.bytes, pinned=body.pinned, cache_path=body.cache_path)


@router.post("/assets/touch", summary="Mark an asset as just used")
def touch_asset(body: AssetKey) -> dict[str, Any]:
    return {"asset": _budgets().touch_asset(body.key)}


@router.post("/assets/forget", summary="Remove an asset from the working set")
def forget_asset(body: AssetKey) -> dict[str, Any]:
    return {"asset": _budgets().forget_asset(body.key)}


@router.post("/assets/evict", summary="Evict least recently used assets until the asset limits hold")
def evict_assets(body: EvictBody) -> dict[str, Any]:
    return {"evicted": _budgets().evict(dry_run=body.dry_run, release_cache=body.release_cache),
            "dry_run": body.dry_run}


@profiler_router.post("/mark", summary="Record a timing (duration_ms) or an instant event under a name")
def mark(body: MarkBody) -> dict[str, Any]:
    return perf_profiler.mark(body.name, body.duration_ms)


@profiler_router.get("/dashboard", summary="Profiler stats per name (count, p50, p95, max) and the top names")
def dashboard(top: int = Query(10, ge=0, le=1000)) -> dict[str, Any]:
    snapshot = perf_profiler.dashboard(top=top)
    modder_hooks.emit("on_perf_profiler_snapshot", {k: snapshot[k] for k in
                                                    ("taken_at", "capacity", "samples", "dropped", "stats")})
    return snapshot


@profiler_router.post("/reset", summary="Clear the profiler's samples")
def reset_profiler() -> dict[str, Any]:
    perf_profiler.reset()
    return {"reset": True}
