"""The job manager's admission hook, driven by a BudgetManager: deferred jobs wait as delayed
with the reason and run once capacity frees."""

from __future__ import annotations

import threading
import time

import pytest

from comfyvn.config.settings import SettingsManager
from comfyvn.core.job_store import JobStore
from comfyvn.core.jobs import JobKind, JobManager
from comfyvn.perf.budget_manager import BudgetManager


def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


@pytest.fixture
def rig(tmp_path):
    gate = threading.Event()
    kinds = {
        "t.echo": JobKind("t.echo", lambda ctx: dict(ctx.params), "Echo."),
        "t.gate": JobKind("t.gate", lambda ctx: gate.wait(10) and {"opened": True}, "Waits for the gate."),
    }
    manager = JobManager(JobStore(tmp_path / "jobs.sqlite3"), workers=2, kinds=lambda: kinds, emit=None)
    budgets = BudgetManager(settings=SettingsManager(tmp_path / "settings.json"), emit=None,
                            enabled=lambda: True, cpu=lambda: 0.0)
    budgets.set_limits({"retry_delay_seconds": 0.02})
    budgets.attach(manager)
    manager.start()
    yield manager, budgets, gate
    gate.set()
    manager.stop()
    manager.store.close()


def test_a_deferred_job_is_delayed_with_the_reason_then_runs(rig):
    manager, budgets, gate = rig
    budgets.set_limits({"max_running_jobs": 1})
    first = manager.submit("t.gate")
    assert first["state"] == "queued"
    wait_for(lambda: manager.get(first["id"])["state"] == "running", "the first job to run")
    second = manager.submit("t.echo", {"n": 1})
    assert second["state"] == "delayed" and second["run_at"] is not None
    assert second["message"] == "deferred by perf budget: running jobs 1 reached max_running_jobs=1"
    # re-asked each time it falls due; it stays delayed while the first job runs
    wait_for(lambda: manager.get(second["id"])["run_at"] > second["run_at"], "a re-check")
    assert manager.get(second["id"])["state"] == "delayed"
    gate.set()
    done = wait_for(lambda: (j := manager.get(second["id"]))["state"] == "succeeded" and j, "the second job")
    assert done["result"] == {"n": 1}
    assert manager.get(first["id"])["state"] == "succeeded"


def test_a_queue_cap_defers_submits_past_it(rig):
    manager, budgets, gate = rig
    budgets.set_limits({"max_queued_jobs": 1})
    blockers = [manager.submit("t.gate") for _ in range(2)]
    wait_for(lambda: all(manager.get(j["id"])["state"] == "running" for j in blockers), "both workers busy")
    queued = manager.submit("t.echo", {"n": "queued"})
    assert queued["state"] == "queued"
    over = manager.submit("t.echo", {"n": "over"})
    assert over["state"] == "delayed"
    assert over["message"] == "deferred by perf budget: queued jobs 1 reached max_queued_jobs=1"
    gate.set()
    for job_id in (queued["id"], over["id"]):
        wait_for(lambda job_id=job_id: manager.get(job_id)["state"] == "succeeded", f"job {job_id}")
    assert manager.get(over["id"])["result"] == {"n": "over"}


def test_user_delays_are_kept_and_no_hook_means_no_deferral(rig):
    manager, budgets, _gate = rig
    budgets.set_limits({"max_running_jobs": 0})
    assert manager.submit("t.echo", delay=3600)["message"] == ""  # a user delay, not a budget's
    budgets.detach()
    job = manager.submit("t.echo", {"n": 2})
    assert job["state"] == "queued"
    wait_for(lambda: manager.get(job["id"])["state"] == "succeeded", "the job")


def test_a_failing_admission_check_admits(tmp_path):
    kinds = {"t.echo": JobKind("t.echo", lambda ctx: {}, "Echo.")}
    manager = JobManager(JobStore(tmp_path / "jobs.sqlite3"), kinds=lambda: kinds, emit=None)

    def broken(kind, params, counts):
        raise RuntimeError("budget bug")

    manager.set_admission(broken)
    assert manager.submit("t.echo")["state"] == "queued"
    manager.set_admission(lambda kind, params, counts: (5.0, f"no: {counts()}"))
    deferred = manager.submit("t.echo")
    assert deferred["state"] == "delayed" and deferred["message"] == "no: {'queued': 1, 'delayed': 0, 'running': 0}"
    assert manager.active_counts() == {"queued": 1, "delayed": 1, "running": 0}
    manager.store.close()
