"""/api/perf over HTTP: flag gates, budgets, /jobs/submit deferral, assets, profiler, events."""

from __future__ import annotations

import time

import pytest

from comfyvn.config import feature_flags
from comfyvn.config.settings import SettingsManager
from tests.conftest import assert_envelope

BUDGET_ROUTES = [("GET", "/api/perf/budgets", None), ("PUT", "/api/perf/budgets", {}),
                 ("POST", "/api/perf/budgets/apply", None),
                 ("POST", "/api/perf/devices/report", {"device": "d", "vram_used_gb": 1}),
                 ("GET", "/api/perf/jobs", None), ("POST", "/api/perf/jobs/register", {"job_id": "x"}),
                 ("POST", "/api/perf/jobs/start", {"job_id": "x"}), ("POST", "/api/perf/jobs/finish", {"job_id": "x"}),
                 ("GET", "/api/perf/assets", None), ("POST", "/api/perf/assets/register", {"key": "a"}),
                 ("POST", "/api/perf/assets/touch", {"key": "a"}), ("POST", "/api/perf/assets/forget", {"key": "a"}),
                 ("POST", "/api/perf/assets/evict", {})]
PROFILER_ROUTES = [("POST", "/api/perf/profiler/mark", {"name": "x"}), ("GET", "/api/perf/profiler/dashboard", None),
                   ("POST", "/api/perf/profiler/reset", None)]


def events(client, name: str) -> list[dict]:
    return [e["payload"] for e in client.app.state.services.bus.history(event=name)]


def wait_job(client, job_id: str, state: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/jobs/{job_id}").json()["job"])["state"] != state:
        assert job["state"] not in {"failed", "cancelled"} and time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


@pytest.fixture
def budgets_on(client):
    feature_flags.set_enabled("enable_perf_budgets", True)
    return client


@pytest.fixture
def profiler_on(client):
    feature_flags.set_enabled("enable_perf_profiler_dashboard", True)
    return client


@pytest.mark.parametrize("method,path,body", BUDGET_ROUTES + PROFILER_ROUTES)
def test_every_route_is_gated_while_its_flag_is_off(client, method, path, body):
    flag = "enable_perf_profiler_dashboard" if "/profiler/" in path else "enable_perf_budgets"
    error = assert_envelope(client.request(method, path, json=body), 403, "feature_disabled")
    assert flag in error["message"] or error["details"].get("flag") == flag


def test_one_flag_does_not_open_the_other(budgets_on):
    assert budgets_on.get("/api/perf/budgets").status_code == 200
    assert_envelope(budgets_on.get("/api/perf/profiler/dashboard"), 403, "feature_disabled")


def test_flags_are_declared_off_by_default(client):
    flags = feature_flags.declared()
    assert not flags["enable_perf_budgets"].default and not flags["enable_perf_profiler_dashboard"].default


def test_budgets_get_set_and_persist(budgets_on):
    state = budgets_on.get("/api/perf/budgets").json()
    assert state["state"] == "ok" and state["enabled"] is True and state["limits"]["max_running_jobs"] is None
    answer = budgets_on.put("/api/perf/budgets", json={"max_running_jobs": 3, "max_cpu_percent": 95})
    assert answer.status_code == 200 and answer.json()["limits"]["max_running_jobs"] == 3
    assert SettingsManager().get("perf")["max_running_jobs"] == 3
    assert_envelope(budgets_on.put("/api/perf/budgets", json={"max_running_jobs": -1}), 422)
    assert_envelope(budgets_on.put("/api/perf/budgets", json={"max_jobs": 1}), 422)
    assert budgets_on.put("/api/perf/budgets", json={"max_running_jobs": None}).json()["limits"]["max_running_jobs"] is None


def test_submit_is_delayed_by_a_budget_then_runs_when_capacity_frees(dev_plugins, budgets_on):
    client = budgets_on
    client.put("/api/perf/budgets", json={"max_running_jobs": 1, "retry_delay_seconds": 0.05})
    assert client.post("/api/perf/jobs/register", json={"job_id": "remote-1"}).json()["status"] == "queued"
    client.post("/api/perf/jobs/start", json={"job_id": "remote-1"})
    answer = client.post("/jobs/submit", json={"kind": "test.echo", "params": {"w": 1}})
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "delayed" and body["job"]["state"] == "delayed"
    assert body["reason"] == "deferred by perf budget: running jobs 1 reached max_running_jobs=1"
    state = client.get("/api/perf/budgets").json()
    assert state["state"] == "constrained" and state["exceeded"] == ["max_running_jobs"]

    client.post("/api/perf/jobs/finish", json={"job_id": "remote-1"})
    done = wait_job(client, body["job"]["id"], "succeeded")
    assert done["result"] == {"w": 1}
    changes = [(e["previous"], e["state"]) for e in events(client, "on_perf_budget_state")]
    assert changes[:2] == [("ok", "constrained"), ("constrained", "ok")]
    assert set(events(client, "on_perf_budget_state")[0]) == {"state", "previous", "reasons", "exceeded", "metrics"}


def test_submit_answers_queued_without_a_reason_when_budgets_are_off(dev_plugins, client):
    SettingsManager().save({"perf": {"max_running_jobs": 0}})
    body = client.post("/jobs/submit", json={"kind": "test.echo"}).json()
    assert body["status"] == "queued" and "reason" not in body
    assert events(client, "on_perf_budget_state") == []


def test_external_job_lifecycle_errors(budgets_on):
    assert_envelope(budgets_on.post("/api/perf/jobs/start", json={"job_id": "ghost"}), 404, "not_found")
    assert_envelope(budgets_on.post("/api/perf/jobs/finish", json={"job_id": "ghost"}), 404, "not_found")
    assert_envelope(budgets_on.post("/api/perf/jobs/register", json={}), 422)
    budgets_on.put("/api/perf/budgets", json={"max_queued_jobs": 0})
    answer = budgets_on.post("/api/perf/jobs/register", json={"job_id": "r"}).json()
    assert answer["status"] == "delayed" and answer["retry_after"] == 2.0
    assert budgets_on.get("/api/perf/jobs").json()["jobs"] == []


def test_devices_report_vram_against_the_limit(budgets_on):
    budgets_on.put("/api/perf/budgets", json={"max_vram_gb": 8})
    budgets_on.post("/api/perf/devices/report", json={"device": "comfy-1", "vram_used_gb": 10.5, "vram_total_gb": 12})
    state = budgets_on.get("/api/perf/budgets").json()
    assert state["metrics"]["vram_gb"] == 10.5 and state["exceeded"] == ["max_vram_gb"]
    assert_envelope(budgets_on.post("/api/perf/devices/report", json={"device": "x", "vram_used_gb": -1}), 422)


def test_assets_register_touch_evict_over_http(budgets_on):
    client = budgets_on
    client.put("/api/perf/budgets", json={"max_cached_assets": 2})
    for key in ("a", "b"):
        assert client.post("/api/perf/assets/register", json={"key": key, "bytes": 10}).json()["evicted"] == []
    client.post("/api/perf/assets/touch", json={"key": "a"})
    answer = client.post("/api/perf/assets/register", json={"key": "c", "bytes": 10}).json()
    assert [a["key"] for a in answer["evicted"]] == ["b"]
    assert [a["key"] for a in client.get("/api/perf/assets").json()["assets"]] == ["a", "c"]
    client.put("/api/perf/budgets", json={"max_cached_assets": 1})
    dry = client.post("/api/perf/assets/evict", json={"dry_run": True}).json()
    assert dry["dry_run"] is True and [a["key"] for a in dry["evicted"]] == ["a"]
    applied = client.post("/api/perf/budgets/apply").json()
    assert [a["key"] for a in applied["evicted"]] == ["a"] and applied["state"] == "ok"
    assert_envelope(client.post("/api/perf/assets/touch", json={"key": "a"}), 404, "not_found")
    assert client.post("/api/perf/assets/forget", json={"key": "c"}).json()["asset"]["key"] == "c"


def test_profiler_mark_and_dashboard_emit_a_snapshot(profiler_on):
    client = profiler_on
    for value in (10, 20, 30, 40):
        assert client.post("/api/perf/profiler/mark", json={"name": "studio.frame", "duration_ms": value}).status_code == 200
    client.post("/api/perf/profiler/mark", json={"name": "cache.miss"})
    assert_envelope(client.post("/api/perf/profiler/mark", json={"name": "x", "duration_ms": -1}), 422)
    board = client.get("/api/perf/profiler/dashboard").json()
    frame = board["stats"]["studio.frame"]
    assert (frame["count"], frame["p50_ms"], frame["p95_ms"], frame["max_ms"]) == (4, 20.0, 40.0, 40.0)
    assert board["stats"]["cache.miss"]["count"] == 1 and board["top"] == ["studio.frame"]
    [payload] = events(client, "on_perf_profiler_snapshot")
    assert set(payload) == {"taken_at", "capacity", "samples", "dropped", "stats"}
    assert payload["samples"] == 5 and payload["stats"]["studio.frame"]["max_ms"] == 40.0
    client.post("/api/perf/profiler/reset")
    assert client.get("/api/perf/profiler/dashboard").json()["stats"] == {}
