"""The compute scheduler over HTTP: enqueue, claim, complete, fail, requeue, health, state, board."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.compute import shared
from comfyvn.compute.domain import HEALTH_EVENT
from comfyvn.compute.scheduler import Scheduler
from comfyvn.core.modder_hooks import HookBus
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/api/schedule", tags=["schedule"])

def get_scheduler(app: FastAPI | None = None, *, resync: bool = False) -> Scheduler:
    """The process's scheduler (``comfyvn.compute.shared``): the routes and the server's own render
    jobs share it; its devices follow ``config/compute_providers.json``."""
    return shared.scheduler(resync=resync)


def _scheduler(request: Request) -> Scheduler:
    return get_scheduler(request.app)


SchedulerDep = Annotated[Scheduler, Depends(_scheduler)]


def announce_health(bus: HookBus, result: dict[str, Any]) -> None:
    """Emit the health event when a check changed a device's status or requeued its jobs."""
    if result["status"] != result["previous"] or result["requeued"]:
        bus.emit(HEALTH_EVENT, {name: result[name] for name in ("device", "status", "previous", "last_error",
                                                                   "requeued")})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnqueueBody(_Body):
    id: str | None = Field(default=None, min_length=1, max_length=128, description="Default: a random id.")
    kind: str = Field(default="render", max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, description="Whatever the worker needs (opaque here).")
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher is claimed first.")
    pool: Literal["local", "remote", "any"] = "any"
    device: str | None = Field(default=None, description="Pin to one device.")
    affinity: str | None = Field(default=None, max_length=200, description="Sticky key, e.g. 'character:sera'.")
    max_attempts: int = Field(default=3, ge=1, le=100)


class ClaimBody(_Body):
    device: str


class Metrics(_Body):
    duration_sec: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                       description="Default: time since the claim.")
    bytes_tx: int = Field(default=0, ge=0)
    bytes_rx: int = Field(default=0, ge=0)
    vram_gb: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                  description="VRAM held; default: the provider's vram_gb.")


class CompleteBody(_Body):
    job_id: str
    metrics: Metrics = Field(default_factory=Metrics)


class FailBody(_Body):
    job_id: str
    error: str = Field(max_length=2000)
    retry: bool = False


class JobBody(_Body):
    job_id: str


class HealthBody(_Body):
    device: str
    status: Literal["healthy", "degraded", "down"]
    error: str | None = Field(default=None, max_length=2000)


@router.post("/enqueue", summary="Queue a job (priority, pool, pinned device, affinity key)")
def enqueue(body: EnqueueBody, scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.enqueue(body.model_dump())


@router.post("/claim", summary="The next job for a device ({job: null} when none, or the device is down or full)")
def claim(body: ClaimBody, scheduler: SchedulerDep) -> dict[str, Any]:
    return {"job": scheduler.claim(body.device)}


@router.post("/complete", summary="Finish a running job; answers it with its cost telemetry")
def complete(body: CompleteBody, scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.complete(body.job_id, body.metrics.model_dump(exclude_none=True))


@router.post("/fail", summary="A running job failed; retry=true requeues it while attempts remain")
def fail(body: FailBody, scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.fail(body.job_id, body.error, body.retry)


@router.post("/requeue", summary="Put a running or failed job back in its queue")
def requeue(body: JobBody, scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.requeue(body.job_id)


@router.post("/health", summary="Record a device's health; 'down' requeues its running jobs")
def health(body: HealthBody, scheduler: SchedulerDep, services: ServicesDep) -> dict[str, Any]:
    result = scheduler.health(body.device, body.status, body.error)
    announce_health(services.bus, result)
    return result


@router.get("/state", summary="Devices, queue lengths, job counts and the affinity map")
def state(scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.state()


@router.get("/board", summary="Per device: queue, running jobs, durations and costs")
def board(scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.board()


@router.get("/jobs/{job_id}", summary="One scheduled job")
def job(job_id: str, scheduler: SchedulerDep) -> dict[str, Any]:
    return scheduler.get(job_id)
