"""``/api/schedule/*`` and ``/api/providers`` through the app, with health checks against loopback servers."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from comfyvn.config import runtime_paths
from comfyvn.config.baseurl_authority import find_open_port
from comfyvn.core import modder_hooks
from tests.conftest import assert_envelope
from tests.support.servers import ThreadServer


def comfy_stub(status: int = 200, body: dict | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/system_stats")
    def system_stats():
        from fastapi.responses import JSONResponse

        return JSONResponse(body if body is not None else {
            "system": {"comfyui_version": "0.3.40", "python_version": "3.11", "os": "posix"},
            "devices": [{"name": "cuda:0", "type": "cuda", "vram_total": 24e9, "vram_free": 20e9, "index": 0}],
        }, status_code=status)

    return app


@pytest.fixture
def comfy():
    server = ThreadServer(comfy_stub()).start()
    yield server
    server.stop()


def add(client, provider_id: str, **fields) -> dict:
    response = client.post("/api/providers", json={"id": provider_id, "base_url": "http://127.0.0.1:9", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_builtin_is_always_there_and_a_device(client):
    listed = client.get("/api/providers").json()["providers"]
    assert [p["id"] for p in listed] == ["builtin"]
    assert listed[0]["kind"] == "builtin" and listed[0]["health"]["status"] == "healthy"
    client.post("/api/schedule/enqueue", json={"id": "bg", "kind": "render.background"})
    job = client.post("/api/schedule/claim", json={"device": "builtin"}).json()["job"]
    assert job["id"] == "bg" and job["status"] == "running"
    done = client.post("/api/schedule/complete", json={"job_id": "bg", "metrics": {"duration_sec": 2}}).json()
    assert done["status"] == "done" and done["telemetry"]["cost_estimate"] == 0


def test_provider_crud_persists_to_the_config_file(client):
    created = add(client, "gpu-box", label="GPU box", max_concurrent=2, cost_per_minute=0.5, tags=["sdxl"])
    assert created["location"] == "local" and created["base_url"] == "http://127.0.0.1:9"
    stored = json.loads(runtime_paths.config_file("compute_providers.json").read_text())
    assert stored["providers"]["gpu-box"]["max_concurrent"] == 2
    remote = add(client, "cloud", base_url="https://render.example.com/", priority=5)
    assert remote["location"] == "remote" and remote["base_url"] == "https://render.example.com"
    assert [p["id"] for p in client.get("/api/providers").json()["providers"]] == ["cloud", "builtin", "gpu-box"]
    assert client.patch("/api/providers/gpu-box", json={"max_concurrent": 4}).json()["max_concurrent"] == 4
    replaced = client.put("/api/providers/gpu-box", json={"base_url": "http://localhost:8188"}).json()
    assert replaced["max_concurrent"] == 1 and replaced["label"] == ""
    assert client.get("/api/providers/gpu-box").json()["base_url"] == "http://localhost:8188"
    devices = [d["device"] for d in client.get("/api/schedule/state").json()["devices"]]
    assert devices == ["cloud", "builtin", "gpu-box"]
    assert client.delete("/api/providers/gpu-box").json() == {"deleted": "gpu-box"}
    assert_envelope(client.get("/api/providers/gpu-box"), 404, "not_found")
    stored = json.loads(runtime_paths.config_file("compute_providers.json").read_text())
    assert set(stored["providers"]) == {"cloud"}


def test_provider_validation_and_conflicts(client):
    add(client, "gpu")
    assert_envelope(client.post("/api/providers", json={"id": "gpu", "base_url": "http://h"}), 409, "conflict")
    error = assert_envelope(client.post("/api/providers", json={"id": "x", "base_url": "ftp://h"}), 422)
    assert "base_url" in error["message"]
    assert_envelope(client.post("/api/providers", json={"id": "Bad Id!", "base_url": "http://h"}), 422)
    assert_envelope(client.post("/api/providers", json={"id": "x", "base_url": "http://h", "colour": 1}), 422)
    assert_envelope(client.post("/api/providers", json={"id": "x", "kind": "builtin"}), 422)
    assert_envelope(client.patch("/api/providers/gpu", json={"max_concurrent": 0}), 422)
    assert_envelope(client.put("/api/providers/gpu", json={"id": "other", "base_url": "http://h"}), 422)
    assert_envelope(client.delete("/api/providers/builtin"), 409, "conflict")
    assert_envelope(client.patch("/api/providers/nope", json={}), 404)
    assert client.patch("/api/providers/builtin", json={"max_concurrent": 3}).json()["max_concurrent"] == 3


def test_disabling_a_provider_removes_its_device(client):
    add(client, "gpu")
    client.patch("/api/providers/gpu", json={"enabled": False})
    assert_envelope(client.post("/api/schedule/claim", json={"device": "gpu"}), 404, "not_found")


def test_check_against_a_comfyui_server_records_healthy(client, comfy):
    add(client, "gpu", base_url=comfy.base_url)
    result = client.post("/api/providers/gpu/check").json()
    assert result["status"] == "healthy" and result["recorded"] is True
    assert result["system"]["comfyui_version"] == "0.3.40"
    assert result["devices"] == [{"name": "cuda:0", "type": "cuda", "vram_total": 24e9, "vram_free": 20e9}]
    health = client.get("/api/providers/gpu").json()["health"]
    assert health["status"] == "healthy" and health["last_check"] is not None


def test_check_of_a_down_port_marks_the_device_down_and_requeues_its_jobs(client):
    port = find_open_port("127.0.0.1", 0)
    add(client, "gpu", base_url=f"http://127.0.0.1:{port}", max_concurrent=2)
    client.post("/api/schedule/enqueue", json={"id": "j1", "affinity": "character:sera"})
    assert client.post("/api/schedule/claim", json={"device": "gpu"}).json()["job"]["id"] == "j1"
    result = client.post("/api/providers/gpu/check").json()
    assert result["status"] == "down" and result["requeued"] == ["j1"]
    assert f"127.0.0.1:{port}" in result["error"] and "Traceback" not in result["error"]
    events = modder_hooks.history(event="on_compute_health_changed")
    assert events[-1]["payload"] == {"device": "gpu", "status": "down", "previous": "healthy",
                                     "last_error": result["error"], "requeued": ["j1"]}
    assert client.post("/api/schedule/claim", json={"device": "gpu"}).json() == {"job": None}
    assert client.post("/api/schedule/claim", json={"device": "builtin"}).json()["job"]["id"] == "j1"
    assert client.get("/api/schedule/state").json()["affinity"] == {"character:sera": "builtin"}


@pytest.mark.parametrize("status, body", [(500, {"error": "x"}), (200, {"not": "comfyui"})])
def test_check_of_a_server_answering_wrongly_is_degraded(client, status, body):
    server = ThreadServer(comfy_stub(status, body)).start()
    try:
        add(client, "odd", base_url=server.base_url)
        result = client.post("/api/providers/odd/check").json()
    finally:
        server.stop()
    assert result["status"] == "degraded" and result["error"]


def test_schedule_lifecycle_and_board(client):
    add(client, "cloud", base_url="https://render.example.com", cost_per_minute=0.6, egress_per_gb=0.1)
    client.post("/api/schedule/enqueue", json={"id": "r", "pool": "remote", "priority": 2})
    client.post("/api/schedule/enqueue", json={"id": "l", "pool": "local"})
    assert client.post("/api/schedule/claim", json={"device": "cloud"}).json()["job"]["id"] == "r"
    done = client.post("/api/schedule/complete", json={
        "job_id": "r", "metrics": {"duration_sec": 60, "bytes_rx": 1_000_000_000}}).json()
    assert done["telemetry"]["cost_estimate"] == pytest.approx(0.7)
    board = {row["device"]: row for row in client.get("/api/schedule/board").json()["devices"]}
    assert board["cloud"]["completed"] == 1 and board["cloud"]["costs"]["bytes_rx"] == 1_000_000_000
    assert client.post("/api/schedule/claim", json={"device": "builtin"}).json()["job"]["id"] == "l"
    failed = client.post("/api/schedule/fail", json={"job_id": "l", "error": "oom", "retry": True}).json()
    assert failed["status"] == "queued" and failed["error"] == "oom"
    assert client.get("/api/schedule/jobs/l").json()["attempts"] == 1
    client.post("/api/schedule/claim", json={"device": "builtin"})
    assert client.post("/api/schedule/requeue", json={"job_id": "l"}).json()["status"] == "queued"
    state = client.get("/api/schedule/state").json()
    assert state["jobs"] == {"queued": 1, "running": 0, "done": 1, "failed": 0}
    assert state["queued"] == {"local": 1, "remote": 0, "any": 0}


def test_schedule_errors_use_the_envelope(client):
    assert_envelope(client.post("/api/schedule/complete", json={"job_id": "nope"}), 404, "not_found")
    client.post("/api/schedule/enqueue", json={"id": "j"})
    assert_envelope(client.post("/api/schedule/complete", json={"job_id": "j"}), 409, "conflict")
    assert_envelope(client.post("/api/schedule/requeue", json={"job_id": "j"}), 409, "conflict")
    assert_envelope(client.post("/api/schedule/enqueue", json={"id": "j"}), 409, "conflict")
    assert_envelope(client.post("/api/schedule/enqueue", json={"priority": "high"}), 422)
    assert_envelope(client.post("/api/schedule/enqueue", json={"device": "nowhere"}), 422)
    assert_envelope(client.post("/api/schedule/health", json={"device": "builtin", "status": "sleepy"}), 422)
    assert_envelope(client.post("/api/schedule/health", json={"device": "nowhere", "status": "down"}), 404)
    assert_envelope(client.post("/api/schedule/claim", content=b"{oops", headers={"content-type": "application/json"}), 422)
    assert_envelope(client.get("/api/schedule/jobs/nope"), 404)


def test_health_route_emits_the_event_only_on_change(client):
    client.post("/api/schedule/health", json={"device": "builtin", "status": "healthy"})
    assert modder_hooks.history(event="on_compute_health_changed") == []
    result = client.post("/api/schedule/health", json={"device": "builtin", "status": "degraded", "error": "slow"}).json()
    assert result["previous"] == "healthy"
    assert len(modder_hooks.history(event="on_compute_health_changed")) == 1


def test_a_hand_edited_file_is_picked_up(client):
    client.get("/api/schedule/state")
    path = runtime_paths.config_file("compute_providers.json")
    path.write_text(json.dumps({"version": 1, "providers": {
        "edited": {"base_url": "http://10.0.0.5:8188"}, "broken": {"base_url": "gopher://x"}}}))
    devices = {d["device"]: d for d in client.get("/api/schedule/state").json()["devices"]}
    assert set(devices) == {"builtin", "edited"} and devices["edited"]["location"] == "remote"
