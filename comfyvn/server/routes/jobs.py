"""Jobs: submit, poll, logs, kill, reset, and the live /jobs/ws stream."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Query, WebSocket
from pydantic import BaseModel, Field

from comfyvn.server.routing import ServicesDep, WsServicesDep, domain_router

router = domain_router(prefix="/jobs", tags=["jobs"])

SNAPSHOT_RECENT = 50


class SubmitBody(BaseModel):
    kind: str = Field(min_length=1, description="A declared job kind; see GET /jobs/kinds.")
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(default=0, description="Higher runs first; equal priorities run in order.")
    delay: float = Field(default=0.0, ge=0, le=7 * 24 * 3600, description="Seconds to wait before running.")


@router.post("/submit", status_code=202, summary="Queue a job")
def submit(body: SubmitBody, services: ServicesDep) -> dict[str, Any]:
    """``status`` is ``queued`` or ``delayed``; a job deferred by a perf budget also carries the
    budget's ``reason`` (it runs once capacity frees)."""
    job = services.jobs.submit(body.kind, body.params, priority=body.priority, delay=body.delay)
    answer = {"job": job, "status": job["state"]}
    if job["state"] == "delayed" and job["message"]:
        answer["reason"] = job["message"]
    return answer


@router.get("/kinds", summary="Job kinds the server can run")
def kinds(services: ServicesDep) -> dict[str, Any]:
    return {"kinds": [k.as_dict() for _, k in sorted(services.jobs.kinds().items())]}


@router.get("/poll", summary="Jobs, newest first, with counts by state")
def poll(
    services: ServicesDep,
    state: str | None = None,
    kind: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return {
        "jobs": services.jobs.list(state=state, kind=kind, limit=limit, offset=offset),
        "counts": services.jobs.counts(),
    }


@router.get("/logs/{job_id}", summary="Log lines of a job")
def logs(job_id: str, services: ServicesDep, offset: int = Query(0, ge=0),
         limit: int = Query(1000, ge=1, le=10000)) -> dict[str, Any]:
    lines = services.jobs.logs(job_id, offset=offset, limit=limit)
    return {"id": job_id, "lines": lines, "next_offset": (lines[-1]["seq"] + 1) if lines else offset}


@router.post("/kill/{job_id}", status_code=202, summary="Cancel a queued job or stop a running one")
def kill(job_id: str, services: ServicesDep) -> dict[str, Any]:
    return {"job": services.jobs.kill(job_id)}


@router.post("/reset", summary="Remove finished jobs from the history")
def reset(services: ServicesDep) -> dict[str, Any]:
    return {"removed": services.jobs.reset()}


@router.get("/{job_id}", summary="One job")
def get_job(job_id: str, services: ServicesDep) -> dict[str, Any]:
    return {"job": services.jobs.get(job_id)}


@router.websocket("/ws")
async def jobs_ws(websocket: WebSocket, services: WsServicesDep) -> None:
    """On connect ``{"type": "snapshot", "jobs": [...]}`` (active jobs and the latest finished ones),
    then ``{"type": "job", "job": {...}}`` and ``{"type": "log", ...}`` updates, heartbeats while idle,
    and ``{"type": "shutdown"}`` before the server stops."""
    broadcaster = websocket.app.state.broadcasters["jobs"]

    def snapshot() -> list[dict[str, Any]]:
        active = [j for state in ("running", "queued", "delayed") for j in services.jobs.list(state=state, limit=1000)]
        seen = {j["id"] for j in active}
        recent = [j for j in services.jobs.list(limit=SNAPSHOT_RECENT) if j["id"] not in seen]
        return [{"type": "snapshot", "jobs": active + recent, "timestamp": time.time()}]

    await broadcaster.serve(websocket, greeting=snapshot)
