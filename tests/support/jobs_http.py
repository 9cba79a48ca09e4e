"""Job helpers over HTTP for tests that talk to a live server (anything with ``base_url``)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from comfyvn.core.jobs import FINISHED


def submit(server: Any, kind: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = httpx.post(server.base_url + "/jobs/submit", json={"kind": kind, "params": params or {}, **extra},
                          timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["job"]


def get_job(server: Any, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["job"]


def wait_job(server: Any, job_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll until the job reaches one of ``states`` (default: any finished state)."""
    states = states or tuple(FINISHED)
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(server, job_id)
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job['state']}"
        time.sleep(0.02)


def wait_client_job(client: Any, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a job through a TestClient until it has finished."""
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/jobs/{job_id}").json()["job"])["state"] not in FINISHED:
        assert time.monotonic() < deadline, f"job {job_id} stuck in {job['state']}"
        time.sleep(0.02)
    return job


def collapse(items: list[str]) -> list[str]:
    """Drop consecutive repeats: ['a', 'a', 'b'] -> ['a', 'b']."""
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out
