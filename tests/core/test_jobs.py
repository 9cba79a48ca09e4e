"""JobManager: queueing, running, reporting, killing, history and recovery.

Every manager here has its own JobStore under tmp_path and an injected dict of kinds; thread
handlers are methods of :class:`Lab` so each test sees only its own runs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest
from pydantic import BaseModel, Field

from comfyvn.core import modder_hooks
from comfyvn.core.errors import ComfyVNError, Conflict, InvalidInput, NotFound
from comfyvn.core.job_store import JobStore
from tests.support.jobs_http import collapse
from comfyvn.core.jobs import (
    INTERRUPTED_REASON,
    STATES,
    Job,
    JobKind,
    JobManager,
    UnknownJobKind,
)

RANK = {"delayed": 0, "queued": 1, "running": 2, "succeeded": 3, "failed": 3, "cancelled": 3}
FINISHED = ("succeeded", "failed", "cancelled")


# -- helpers ------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_state(manager: JobManager, job_id: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = manager.get(job_id)
        return job if job["state"] in states else None

    return wait_for(check, timeout, f"job {job_id} to reach {states} (now {manager.get(job_id)['state']})")


def wait_done(manager: JobManager, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    return wait_state(manager, job_id, *FINISHED, timeout=timeout)


class Recorder:
    """Collects listener updates and emitted bus events (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.updates: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    def listener(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(update)

    def emit(self, event: str, payload: Any) -> None:
        with self.lock:
            self.events.append((event, dict(payload)))

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                u for u in self.updates
                if (u["type"] == "job" and u["job"]["id"] == job_id) or (u["type"] == "log" and u["job_id"] == job_id)
            ]

    def job_states(self, job_id: str) -> list[str]:
        return [u["job"]["state"] for u in self.for_job(job_id) if u["type"] == "job"]

    def events_for(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(e, p) for e, p in self.events if p.get("job_id") == job_id]





class Lab:
    """Thread handlers that record what they did, with gates the test opens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[tuple[str, str], threading.Event] = {}
        self.ran: list[str] = []  # names in the order handlers started
        self.after: list[str] = []  # names whose handler ran past the point a kill must stop
        self.cancelled_inside: list[str] = []

    def event(self, table: str, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault((table, name), threading.Event())

    def started(self, name: str) -> threading.Event:
        return self.event("started", name)

    def release(self, name: str) -> None:
        self.event("gate", name).set()

    def release_all(self) -> None:
        with self._lock:
            for (table, _), ev in self._events.items():
                if table == "gate":
                    ev.set()

    def _begin(self, ctx) -> str:
        name = ctx.params.get("name", ctx.job_id)
        with self._lock:
            self.ran.append(name)
        self.started(name).set()
        return name

    # handlers
    def record(self, ctx):
        return {"name": self._begin(ctx)}

    def gate(self, ctx):
        """Waits for its gate, checking for cancellation (cooperative)."""
        name = self._begin(ctx)
        gate = self.event("gate", name)
        while not gate.wait(0.01):
            ctx.check_cancelled()
        return {"name": name}

    def stubborn(self, ctx):
        """Ignores cancellation; finishes only when its gate opens."""
        name = self._begin(ctx)
        self.event("gate", name).wait(30)
        self.after.append(name)
        return {"finished": name}

    def spin(self, ctx):
        """Reports progress in a loop; a kill stops it at the next progress call."""
        name = self._begin(ctx)
        for n in range(3000):
            ctx.progress(None, f"tick {n}")
            time.sleep(0.01)
        self.after.append(name)
        return {"spun": True}

    async def asleep(self, ctx):
        name = self._begin(ctx)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled_inside.append(name)
            raise
        self.after.append(name)
        return {"slept": True}

    def report(self, ctx):
        self._begin(ctx)
        for i in range(1, 5):
            ctx.log(f"line {i}")
            ctx.progress(i / 4, f"step {i}")
            time.sleep(0.12)  # longer than the progress interval, so every step is published
        return {"ok": True}

    def burst(self, ctx):
        self._begin(ctx)
        calls = 0
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < 0.5:
            ctx.progress(0.1 + 0.8 * elapsed / 0.5, "burst")
            calls += 1
        return {"calls": calls, "elapsed": time.monotonic() - start}

    def fail(self, ctx):
        self._begin(ctx)
        ctx.log("about to fail")
        raise RuntimeError("kaboom")

    def fail_nicely(self, ctx):
        raise ComfyVNError("the model file is missing")

    def bad_result(self, ctx):
        return {"not json": object()}

    def interrupt(self, ctx):
        raise KeyboardInterrupt()

    def params_echo(self, ctx):
        return {"seen": ctx.params}


class Quality(BaseModel):
    quality: Literal["low", "high"] = "low"


class RenderParams(BaseModel):
    width: int = Field(ge=1)
    title: str = "untitled"
    options: Quality = Field(default_factory=Quality)


def make_kinds(lab: Lab) -> dict[str, JobKind]:
    kinds = [
        JobKind("t.record", lab.record, "records that it ran"),
        JobKind("t.gate", lab.gate, "waits for its gate (cooperative)"),
        JobKind("t.stubborn", lab.stubborn, "ignores cancellation"),
        JobKind("t.spin", lab.spin, "progress loop"),
        JobKind("t.async", lab.asleep, "async sleep"),
        JobKind("t.report", lab.report, "progress and logs"),
        JobKind("t.burst", lab.burst, "many progress calls"),
        JobKind("t.fail", lab.fail, "raises"),
        JobKind("t.fail_nicely", lab.fail_nicely, "raises a ComfyVNError"),
        JobKind("t.bad_result", lab.bad_result, "returns something that is not JSON"),
        JobKind("t.interrupt", lab.interrupt, "raises KeyboardInterrupt"),
        JobKind("t.render", lab.params_echo, "validated params", params=RenderParams),
        JobKind("p.block", "tests.support.jobkit:block", "uncooperative child process", isolation="process"),
        JobKind("p.fail", "tests.support.jobkit:fail", "fails in a child process", isolation="process"),
        JobKind("p.echo", "tests.support.jobkit:echo", "echoes in a child process", isolation="process"),
    ]
    return {k.name: k for k in kinds}


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.release_all()


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "jobs.sqlite3"


@pytest.fixture
def make_manager(lab, db):
    made: list[JobManager] = []

    def make(*, workers: int = 1, recorder: Recorder | None = None, start: bool = True,
             kinds: dict[str, JobKind] | None = None, emit: Any = "recorder", **kwargs: Any) -> JobManager:
        if emit == "recorder":
            emit = recorder.emit if recorder else None
        table = kinds if kinds is not None else make_kinds(lab)
        manager = JobManager(JobStore(db), workers=workers, kinds=lambda: table, emit=emit, **kwargs)
        if recorder is not None:
            manager.add_listener(recorder.listener)
        made.append(manager)
        if start:
            manager.start()
        return manager

    yield make
    lab.release_all()
    for manager in made:
        manager.stop(timeout=5)
        manager.store.close()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


# -- ordering -------------------------------------------------------------------------------------
def test_priority_first_then_fifo_with_one_worker(make_manager, lab):
    m = make_manager(workers=1)
    blocker = m.submit("t.gate", {"name": "blocker"})
    assert lab.started("blocker").wait(10)

    order = [("a0", 0), ("h1", 5), ("m1", 1), ("h2", 5), ("a1", 0), ("n1", -3), ("m2", 1), ("a2", 0)]
    ids = [m.submit("t.record", {"name": name}, priority=prio)["id"] for name, prio in order]
    assert all(m.get(i)["state"] == "queued" for i in ids)

    lab.release("blocker")
    for job_id in [blocker["id"], *ids]:
        assert wait_done(m, job_id)["state"] == "succeeded"
    assert lab.ran == ["blocker", "h1", "h2", "m1", "m2", "a0", "a1", "a2", "n1"]


def test_two_workers_run_jobs_at_the_same_time(make_manager, lab):
    m = make_manager(workers=2)
    a = m.submit("t.gate", {"name": "a"})
    b = m.submit("t.gate", {"name": "b"})
    assert lab.started("a").wait(10) and lab.started("b").wait(10)
    assert m.counts()["running"] == 2
    lab.release("a")
    lab.release("b")
    assert wait_done(m, a["id"])["state"] == wait_done(m, b["id"])["state"] == "succeeded"


def test_delayed_job_waits_for_its_time_then_runs(make_manager, lab, rec):
    m = make_manager(workers=1, recorder=rec)
    later = m.submit("t.record", {"name": "later"}, delay=0.4)
    assert later["state"] == "delayed"
    assert later["run_at"] == pytest.approx(later["created_at"] + 0.4)
    assert m.get(later["id"])["state"] == "delayed"
    assert m.counts()["delayed"] == 1

    now = m.submit("t.record", {"name": "now"})
    assert wait_done(m, now["id"])["state"] == "succeeded"
    done = wait_done(m, later["id"])
    assert done["state"] == "succeeded"
    assert lab.ran == ["now", "later"]
    assert done["started_at"] >= done["run_at"]
    assert rec.job_states(later["id"]) == ["delayed", "queued", "running", "succeeded"]
    assert [e for e, _ in rec.events_for(later["id"])] == ["on_job_submitted", "on_job_started", "on_job_finished"]
    assert rec.events_for(later["id"])[0][1]["state"] == "delayed"


def test_negative_delay_is_rejected(make_manager):
    m = make_manager()
    with pytest.raises(InvalidInput) as info:
        m.submit("t.record", delay=-1)
    assert info.value.details == {"field": "delay"}
    assert m.list() == []


# -- progress, logs, listener order ---------------------------------------------------------------
def test_progress_logs_and_listener_updates_arrive_in_order(make_manager, rec):
    m = make_manager(recorder=rec)
    job = m.submit("t.report", priority=2)
    done = wait_done(m, job["id"])
    assert done["state"] == "succeeded"
    assert done["result"] == {"ok": True} and done["progress"] == 1.0 and done["error"] is None
    assert done["message"] == "done"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]

    updates = rec.for_job(job["id"])
    states = [u["job"]["state"] for u in updates if u["type"] == "job"]
    assert collapse(states) == ["queued", "running", "succeeded"]
    assert [RANK[s] for s in states] == sorted(RANK[s] for s in states)
    assert updates[0] == {"type": "job", "job": job}
    assert updates[-1]["type"] == "job" and updates[-1]["job"]["state"] == "succeeded"

    logs = [u for u in updates if u["type"] == "log"]
    assert [(u["seq"], u["line"]) for u in logs] == [(i - 1, f"line {i}") for i in range(1, 5)]
    assert all(set(u) == {"type", "job_id", "seq", "ts", "line"} for u in logs)

    running = [(n, u["job"]) for n, u in enumerate(updates) if u["type"] == "job" and u["job"]["state"] == "running"]
    fractions = [j["progress"] for _, j in running]
    assert fractions == sorted(fractions)
    for i in range(1, 5):
        log_at = next(n for n, u in enumerate(updates) if u["type"] == "log" and u["line"] == f"line {i}")
        step_at = next(n for n, j in running if j["message"] == f"step {i}")
        assert j_progress(updates[step_at]) == i / 4
        assert log_at < step_at

    stored = m.logs(job["id"])
    assert [line["line"] for line in stored] == [f"line {i}" for i in range(1, 5)]
    assert m.logs(job["id"], offset=2) == stored[2:]
    assert m.logs(job["id"], limit=1) == stored[:1]

    events = [e for e, _ in rec.events_for(job["id"])]
    assert events[0:2] == ["on_job_submitted", "on_job_started"]
    assert events[-1] == "on_job_finished"
    assert set(events[2:-1]) == {"on_job_progress"} and len(events[2:-1]) == 4


def j_progress(update: dict[str, Any]) -> float | None:
    return update["job"]["progress"]


def test_progress_notifications_are_throttled_per_job(make_manager, rec):
    m = make_manager(recorder=rec)
    job = m.submit("t.burst")
    done = wait_done(m, job["id"])
    assert done["state"] == "succeeded"
    calls, elapsed = done["result"]["calls"], done["result"]["elapsed"]
    notes = [p for e, p in rec.events_for(job["id"]) if e == "on_job_progress"]
    assert calls > 100  # the handler really hammered progress()
    assert 1 <= len(notes) <= int(elapsed / 0.1) + 2
    assert all(0.1 <= p["progress"] <= 0.9 for p in notes)
    assert [p["progress"] for p in notes] == sorted(p["progress"] for p in notes)


def test_progress_fraction_is_clamped(make_manager, rec):
    def clamp(ctx):
        ctx.progress(7, "over")
        ctx.progress(-3, "under")
        return None

    m = make_manager(recorder=rec, kinds={"t.clamp": JobKind("t.clamp", clamp, "clamps")})
    job = m.submit("t.clamp")
    assert wait_done(m, job["id"])["state"] == "succeeded"
    progress = [u["job"]["progress"] for u in rec.for_job(job["id"]) if u["type"] == "job"
                and u["job"]["message"] in ("over", "under")]
    assert progress == [1.0, 0.0]


def test_failing_listener_does_not_affect_others_or_the_job(make_manager, rec):
    def broken(update):
        raise RuntimeError("listener bug")

    m = make_manager()
    m.add_listener(broken)
    m.add_listener(rec.listener)
    job = m.submit("t.record")
    assert wait_done(m, job["id"])["state"] == "succeeded"
    assert rec.job_states(job["id"])[-1] == "succeeded"


def test_removed_listener_gets_nothing_more(make_manager, rec):
    m = make_manager()
    remove = m.add_listener(rec.listener)
    first = m.submit("t.record")
    wait_done(m, first["id"])
    wait_for(lambda: "succeeded" in rec.job_states(first["id"]), what="final update")
    remove()
    second = m.submit("t.record")
    wait_done(m, second["id"])
    assert rec.for_job(second["id"]) == []


# -- kill -----------------------------------------------------------------------------------------
def test_kill_queued_and_delayed_jobs_cancels_them_at_once(make_manager, lab, rec):
    m = make_manager(workers=1, recorder=rec)
    blocker = m.submit("t.gate", {"name": "blocker"})
    assert lab.started("blocker").wait(10)

    victim = m.submit("t.record", {"name": "victim"})
    killed = m.kill(victim["id"])
    assert killed["state"] == "cancelled" and killed["message"] == "cancelled before it started"
    assert killed["started_at"] is None and killed["finished_at"] is not None
    assert m.get(victim["id"])["state"] == "cancelled"

    late = m.submit("t.record", {"name": "late"}, delay=0.2)
    assert m.kill(late["id"])["state"] == "cancelled"
    probe = m.submit("t.record", {"name": "probe"}, delay=0.4)

    lab.release("blocker")
    assert wait_done(m, probe["id"])["state"] == "succeeded"
    assert wait_done(m, blocker["id"])["state"] == "succeeded"
    assert lab.ran == ["blocker", "probe"]
    assert rec.job_states(victim["id"]) == ["queued", "cancelled"]
    assert rec.job_states(late["id"]) == ["delayed", "cancelled"]
    finished = [p for e, p in rec.events_for(victim["id"]) if e == "on_job_finished"]
    assert finished == [{"job_id": victim["id"], "kind": "t.record", "state": "cancelled", "error": None,
                         "duration_sec": None}]


def test_kill_running_cooperative_sync_job(make_manager, lab, rec):
    m = make_manager(recorder=rec)
    job = m.submit("t.spin", {"name": "spin"})
    assert lab.started("spin").wait(10)
    wait_state(m, job["id"], "running")

    answer = m.kill(job["id"])
    assert answer["state"] == "running" and answer["cancel_requested"] is True
    assert answer["message"] == "cancelling"

    done = wait_done(m, job["id"])
    assert done["state"] == "cancelled"
    assert done["error"] is None and done["result"] is None
    assert lab.after == []
    assert "cancel requested: killed by request" in [line["line"] for line in m.logs(job["id"])]
    jobs = [u["job"] for u in rec.for_job(job["id"]) if u["type"] == "job"]
    flagged = next(n for n, j in enumerate(jobs) if j["cancel_requested"])
    assert jobs[flagged]["state"] == "running"
    assert jobs[-1]["state"] == "cancelled" and flagged < len(jobs) - 1
    with pytest.raises(Conflict):
        m.kill(job["id"])


def test_kill_uncooperative_thread_job_discards_its_result(make_manager, lab):
    m = make_manager()
    job = m.submit("t.stubborn", {"name": "mule"})
    assert lab.started("mule").wait(10)
    m.kill(job["id"])
    # it cannot be stopped before it returns; it stays running, marked as cancelling
    now = m.get(job["id"])
    assert now["state"] == "running" and now["cancel_requested"] is True
    lab.release("mule")
    done = wait_done(m, job["id"])
    assert lab.after == ["mule"]
    assert done["state"] == "cancelled"
    assert done["result"] is None
    assert "result discarded" in done["message"]


def test_kill_async_job_cancels_the_coroutine(make_manager, lab, rec):
    m = make_manager(recorder=rec)
    job = m.submit("t.async", {"name": "nap"})
    assert lab.started("nap").wait(10)
    m.kill(job["id"])
    done = wait_done(m, job["id"])
    assert done["state"] == "cancelled"
    assert lab.cancelled_inside == ["nap"]  # CancelledError was raised at the await
    assert lab.after == []  # nothing after the await ran
    assert done["message"] == "cancelled"
    assert rec.events_for(job["id"])[-1][1]["state"] == "cancelled"


def test_killed_process_job_really_stops(make_manager, tmp_path):
    marker = tmp_path / "block.marker"
    m = make_manager()
    job = m.submit("p.block", {"seconds": 1.5, "marker": str(marker)})
    lines = wait_for(lambda: [x["line"] for x in m.logs(job["id"]) if x["line"].startswith("pid ")], 20,
                     "the child process to report its pid")
    child_pid = int(lines[0].split()[1])
    assert child_pid != os.getpid()
    assert m.get(job["id"])["state"] == "running"

    m.kill(job["id"])
    done = wait_done(m, job["id"])
    assert done["state"] == "cancelled"
    assert not _running(child_pid)
    time.sleep(2.5)  # well past the child's 1.5 s sleep
    assert not marker.exists(), "the killed job's work went on and finished"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


ORPHAN_SCRIPT = """
import os, sys, time
from comfyvn.core.job_store import JobStore
from comfyvn.core.jobs import JobKind, JobManager
kinds = {"p.block": JobKind("p.block", "tests.support.jobkit:block", "", isolation="process")}
manager = JobManager(JobStore(sys.argv[1]), workers=1, kinds=lambda: kinds, emit=None)
manager.start()
job = manager.submit("p.block", {"seconds": 60})
while not manager.logs(job["id"]):
    time.sleep(0.02)
print(manager.logs(job["id"])[0]["line"], flush=True)
os._exit(9)  # die like a crashed server: no shutdown code runs
"""


def test_process_job_ends_when_its_manager_process_dies(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path / "jobs.sqlite3")], cwd=root,
                            env=env, stdout=subprocess.PIPE, text=True)
    child_pid = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("pid "), line
        child_pid = int(line.split()[1])
        assert proc.wait(20) == 9
        wait_for(lambda: not _running(child_pid), 15, "the orphaned job process to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child_pid and _running(child_pid):
            psutil.Process(child_pid).kill()
        proc.stdout.close()


def test_process_job_that_is_not_killed_finishes_its_work(make_manager, tmp_path):
    marker = tmp_path / "block.marker"
    m = make_manager()
    job = m.submit("p.block", {"seconds": 0.1, "marker": str(marker)})
    done = wait_done(m, job["id"], timeout=30)
    assert done["state"] == "succeeded"
    assert marker.read_text() == "finished"
    assert done["result"]["pid"] != os.getpid()


def test_process_job_reports_logs_progress_and_failure(make_manager, rec):
    m = make_manager(recorder=rec)
    ok = m.submit("p.echo", {"word": "hi"})
    done = wait_done(m, ok["id"], timeout=30)
    assert done["state"] == "succeeded" and done["result"] == {"word": "hi"}
    assert [x["line"] for x in m.logs(ok["id"])] == ["echo {'word': 'hi'}"]
    assert any(u["job"]["message"] == "echoed" for u in rec.for_job(ok["id"]) if u["type"] == "job")

    bad = m.submit("p.fail", {"message": "child broke"})
    failed = wait_done(m, bad["id"], timeout=30)
    assert failed["state"] == "failed"
    assert failed["error"] == "ValueError: child broke"
    logs = "\n".join(x["line"] for x in m.logs(bad["id"]))
    assert "Traceback" in logs and "child broke" in logs


# -- failures and validation ----------------------------------------------------------------------
def test_failure_is_captured_with_traceback_in_logs(make_manager, rec):
    m = make_manager(recorder=rec)
    job = m.submit("t.fail")
    done = wait_done(m, job["id"])
    assert done["state"] == "failed"
    assert done["error"] == "RuntimeError: kaboom"
    assert done["message"] == "RuntimeError: kaboom"
    assert done["result"] is None
    lines = [x["line"] for x in m.logs(job["id"])]
    assert lines[0] == "about to fail"
    assert lines[-1].startswith("Traceback") and "kaboom" in lines[-1] and "in fail" in lines[-1]
    finished = rec.events_for(job["id"])[-1]
    assert finished[0] == "on_job_finished" and finished[1]["error"] == "RuntimeError: kaboom"
    # the worker survives a failing job
    after = m.submit("t.record")
    assert wait_done(m, after["id"])["state"] == "succeeded"


def test_product_errors_keep_their_message_and_bad_results_fail(make_manager):
    m = make_manager()
    nice = wait_done(m, m.submit("t.fail_nicely")["id"])
    assert nice["state"] == "failed" and nice["error"] == "the model file is missing"
    bad = wait_done(m, m.submit("t.bad_result")["id"])
    assert bad["state"] == "failed" and bad["error"].startswith("TypeError")
    assert bad["result"] is None


def test_params_are_validated_by_the_kind_model(make_manager, lab):
    m = make_manager()
    with pytest.raises(InvalidInput) as info:
        m.submit("t.render", {"width": "wide"})
    assert "'width'" in info.value.message and "t.render" in info.value.message
    assert info.value.details["errors"][0]["field"] == "width"

    with pytest.raises(InvalidInput) as info:
        m.submit("t.render", {"width": 5, "options": {"quality": "ultra"}})
    assert "'options.quality'" in info.value.message
    assert info.value.details["errors"][0]["field"] == "options.quality"

    with pytest.raises(InvalidInput) as info:
        m.submit("t.render", {})
    assert info.value.details["errors"][0]["field"] == "width"

    with pytest.raises(InvalidInput) as info:
        m.submit("t.render", {"width": 0, "options": {"quality": "mid"}})
    assert [e["field"] for e in info.value.details["errors"]] == ["width", "options.quality"]

    assert m.list() == []  # nothing was queued

    job = m.submit("t.render", {"width": "640"})
    assert job["params"] == {"width": 640, "title": "untitled", "options": {"quality": "low"}}
    done = wait_done(m, job["id"])
    assert done["result"] == {"seen": {"width": 640, "title": "untitled", "options": {"quality": "low"}}}


def test_params_without_a_model_must_be_json(make_manager):
    m = make_manager()
    with pytest.raises(InvalidInput, match="JSON"):
        m.submit("t.record", {"thing": object()})
    job = m.submit("t.record", None)
    assert job["params"] == {}


def test_unknown_kind_lists_the_known_kinds(make_manager):
    m = make_manager()
    with pytest.raises(UnknownJobKind) as info:
        m.submit("t.nope", {})
    error = info.value
    assert error.code == "unknown_job_kind" and error.status == 422
    assert "'t.nope'" in error.message
    for name in make_kinds(Lab()):
        assert name in error.message
    assert error.details == {"field": "kind", "kind": "t.nope"}

    empty = make_manager(kinds={})
    with pytest.raises(UnknownJobKind, match="known kinds: none"):
        empty.submit("anything")


def test_unknown_ids_are_not_found(make_manager):
    m = make_manager()
    for call in (m.get, m.kill, m.logs):
        with pytest.raises(NotFound) as info:
            call("no-such-job")
        assert info.value.details == {"kind": "job", "id": "no-such-job"}


def test_kill_finished_job_is_a_conflict(make_manager, lab):
    m = make_manager()
    ok = m.submit("t.record")
    bad = m.submit("t.fail")
    gone = m.submit("t.record", delay=30)
    m.kill(gone["id"])
    for job in (ok, bad, gone):
        state = wait_done(m, job["id"])["state"]
        with pytest.raises(Conflict) as info:
            m.kill(job["id"])
        assert info.value.status == 409
        assert info.value.details == {"id": job["id"], "state": state}
    assert m.get(ok["id"])["state"] == "succeeded"  # the failed kill changed nothing


def test_list_filters_and_rejects_unknown_states(make_manager):
    m = make_manager()
    ok = wait_done(m, m.submit("t.record")["id"])
    bad = wait_done(m, m.submit("t.fail")["id"])
    later = m.submit("t.render", {"width": 3}, delay=60)
    assert [j["id"] for j in m.list()] == [later["id"], bad["id"], ok["id"]]
    assert [j["id"] for j in m.list(state="failed")] == [bad["id"]]
    assert [j["id"] for j in m.list(state="delayed")] == [later["id"]]
    assert [j["id"] for j in m.list(kind="t.record")] == [ok["id"]]
    assert [j["id"] for j in m.list(limit=1, offset=1)] == [bad["id"]]
    with pytest.raises(InvalidInput, match="unknown job state 'done'"):
        m.list(state="done")
    counts = m.counts()
    assert set(counts) == set(STATES)
    assert counts["delayed"] == 1 and counts["queued"] == counts["running"] == 0


def test_reset_removes_only_finished_jobs(make_manager, lab):
    m = make_manager(workers=1)
    ok = wait_done(m, m.submit("t.record", {"name": "ok"})["id"])
    bad = wait_done(m, m.submit("t.fail", {"name": "bad"})["id"])
    running = m.submit("t.gate", {"name": "run"})
    assert lab.started("run").wait(10)
    later = m.submit("t.record", {"name": "later"}, delay=60)

    assert m.reset() == 2
    assert {j["id"] for j in m.list()} == {running["id"], later["id"]}
    for job in (ok, bad):
        with pytest.raises(NotFound):
            m.get(job["id"])
        with pytest.raises(NotFound):
            m.logs(job["id"])
    assert m.reset() == 0

    lab.release("run")
    assert wait_done(m, running["id"])["state"] == "succeeded"
    assert m.get(later["id"])["state"] == "delayed"
    assert m.kill(later["id"])["state"] == "cancelled"
    assert m.reset() == 2
    assert m.list() == []


# -- persistence and recovery ---------------------------------------------------------------------
def test_history_persists_across_manager_instances(make_manager, lab, db):
    first = make_manager()
    ok = wait_done(first, first.submit("t.report")["id"])
    bad = wait_done(first, first.submit("t.fail")["id"])
    first.stop()
    first.store.close()

    second = make_manager()
    assert second.get(ok["id"]) == ok
    assert second.get(bad["id"])["error"] == "RuntimeError: kaboom"
    assert [x["line"] for x in second.logs(ok["id"])] == [f"line {i}" for i in range(1, 5)]
    assert [j["id"] for j in second.list()] == [bad["id"], ok["id"]]
    with pytest.raises(Conflict):
        second.kill(ok["id"])


def test_queued_jobs_survive_a_restart(make_manager, lab):
    first = make_manager(start=False)  # never runs anything
    queued = first.submit("t.record", {"name": "waiting"}, priority=1)
    assert first.store.get(queued["id"])["state"] == "queued"

    second = make_manager()
    done = wait_done(second, queued["id"])
    assert done["state"] == "succeeded" and lab.ran == ["waiting"]


def test_stop_cancels_running_jobs_and_keeps_queued_ones(make_manager, lab):
    first = make_manager(workers=1)
    running = first.submit("t.gate", {"name": "run"})
    assert lab.started("run").wait(10)
    queued = first.submit("t.record", {"name": "next"})
    first.stop()
    assert first.get(running["id"])["state"] == "cancelled"
    assert first.store.get(queued["id"])["state"] == "queued"
    with pytest.raises(Conflict, match="shutting down"):
        first.submit("t.record")

    second = make_manager()
    assert wait_done(second, queued["id"])["state"] == "succeeded"
    assert lab.ran == ["run", "next"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_recovers_stored_jobs(make_manager, lab, db, rec):
    store = JobStore(db)
    now = time.time()

    def stored(job_id: str, kind: str, state: str, **extra: Any) -> str:
        job = Job(id=job_id, kind=kind, params={"name": job_id}, state=state, created_at=now - 100, **extra)
        store.save(job.as_dict())
        return job_id

    stored("crashed", "t.record", "running", started_at=now - 50, worker_pid=_dead_pid())
    stored("mine", "t.record", "running", started_at=now - 50, worker_pid=os.getpid())
    stored("no-pid", "t.record", "running", started_at=now - 50)
    # a CLI run: its job started after its (live) process did
    cli_started = psutil.Process(os.getppid()).create_time() + 0.5
    stored("cli-run", "t.record", "running", started_at=cli_started, worker_pid=os.getppid())
    # a live process that started after the job did only reuses a dead owner's pid
    stored("reused-pid", "t.record", "running", started_at=cli_started - 3600, worker_pid=os.getppid())
    stored("waiting", "t.record", "queued")
    stored("soon", "t.record", "delayed", run_at=now + 0.3)
    stored("orphan", "gone.kind", "queued")
    stored("old-ok", "t.record", "succeeded", finished_at=now - 90)
    store.append_log("crashed", 0, "was working")
    store.close()

    m = make_manager(recorder=rec)
    for job_id in ("crashed", "mine", "no-pid", "reused-pid"):
        job = m.get(job_id)
        assert job["state"] == "failed", job_id
        assert job["error"] == INTERRUPTED_REASON
        assert job["message"] == "interrupted"
        assert job["finished_at"] is not None
        assert rec.job_states(job_id) == ["failed"]
    assert [x["line"] for x in m.logs("crashed")] == ["was working"]

    # a running job whose worker process is alive elsewhere (a CLI run) is left alone
    assert m.get("cli-run")["state"] == "running"
    assert rec.for_job("cli-run") == []

    orphan = m.get("orphan")
    assert orphan["state"] == "failed" and "'gone.kind' is no longer available" in orphan["error"]

    assert wait_done(m, "waiting")["state"] == "succeeded"
    assert wait_done(m, "soon")["state"] == "succeeded"
    assert lab.ran == ["waiting", "soon"]
    assert m.get("old-ok")["state"] == "succeeded"
    assert m.counts()["running"] == 0  # the CLI's job is not this manager's


def test_start_prunes_history_beyond_the_limit(make_manager, db):
    store = JobStore(db)
    for n in range(5):
        store.save(Job(id=f"old{n}", kind="t.record", params={}, state="succeeded", created_at=float(n)).as_dict())
    store.save(Job(id="active", kind="t.record", params={}, state="delayed", created_at=0.0,
                   run_at=time.time() + 60).as_dict())
    store.close()
    m = make_manager(history_limit=2)
    assert [j["id"] for j in m.list()] == ["old4", "old3", "active"]


# -- hook bus -------------------------------------------------------------------------------------
def test_bus_events_carry_their_declared_fields(make_manager, lab):
    bus = modder_hooks.reset()
    seen: list[dict[str, Any]] = []
    bus.subscribe("on_job_*", seen.append)
    m = make_manager(emit=modder_hooks.emit)  # the real, validating bus

    ok = wait_done(m, m.submit("t.report", priority=3)["id"])
    bad = wait_done(m, m.submit("t.fail")["id"])
    later = m.submit("t.record", delay=60)
    m.kill(later["id"])

    def events(job_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e["event"], e["payload"]) for e in seen if e["payload"]["job_id"] == job_id]

    for event, payload in events(ok["id"]) + events(bad["id"]) + events(later["id"]):
        assert set(payload) == set(bus.spec(event).fields), event

    ok_events = events(ok["id"])
    names = [e for e, _ in ok_events]
    assert names[:2] == ["on_job_submitted", "on_job_started"] and names[-1] == "on_job_finished"
    assert set(names[2:-1]) == {"on_job_progress"}
    assert ok_events[0][1] == {"job_id": ok["id"], "kind": "t.report", "state": "queued", "priority": 3}
    assert ok_events[1][1] == {"job_id": ok["id"], "kind": "t.report"}
    assert [p["progress"] for _, p in ok_events[2:-1]] == [0.25, 0.5, 0.75, 1.0]
    assert ok_events[2][1]["message"] == "step 1"
    final = ok_events[-1][1]
    assert final["state"] == "succeeded" and final["error"] is None
    assert final["duration_sec"] == pytest.approx(ok["finished_at"] - ok["started_at"], abs=1e-5)
    assert final["duration_sec"] > 0

    bad_final = events(bad["id"])[-1]
    assert bad_final[1]["state"] == "failed" and bad_final[1]["error"] == "RuntimeError: kaboom"

    assert events(later["id"]) == [
        ("on_job_submitted", {"job_id": later["id"], "kind": "t.record", "state": "delayed", "priority": 0}),
        ("on_job_finished", {"job_id": later["id"], "kind": "t.record", "state": "cancelled", "error": None,
                             "duration_sec": None}),
    ]
    assert bus.listener_errors == 0


def test_a_failing_emit_does_not_break_jobs(make_manager, rec):
    def emit(event, payload):
        raise RuntimeError("bus down")

    m = make_manager(emit=emit, recorder=rec)
    job = m.submit("t.report")
    assert wait_done(m, job["id"])["state"] == "succeeded"
    assert collapse(rec.job_states(job["id"])) == ["queued", "running", "succeeded"]
    assert len(m.logs(job["id"])) == 4


# -- CLI runs -------------------------------------------------------------------------------------
def test_run_inline_runs_in_the_calling_thread_and_is_recorded(make_manager, lab, rec):
    caller = threading.get_ident()
    seen: list[int] = []

    def where(ctx):
        seen.append(threading.get_ident())
        ctx.log("inline")
        return {"ok": 1}

    kinds = {**make_kinds(lab), "t.where": JobKind("t.where", where, "thread id")}
    m = make_manager(start=False, recorder=rec, kinds=kinds)
    done = m.run_inline("t.where")
    assert seen == [caller]
    assert done["state"] == "succeeded" and done["result"] == {"ok": 1}
    assert done["worker_pid"] == os.getpid()
    assert m.store.get(done["id"])["state"] == "succeeded"
    assert [x["line"] for x in m.logs(done["id"])] == ["inline"]
    assert [e for e, _ in rec.events_for(done["id"])] == ["on_job_submitted", "on_job_started", "on_job_finished"]

    failed = m.run_inline("t.fail")
    assert failed["state"] == "failed" and failed["error"] == "RuntimeError: kaboom"

    interrupted = m.run_inline("t.interrupt")
    assert interrupted["state"] == "cancelled" and interrupted["message"] == "interrupted by the user"

    with pytest.raises(InvalidInput):
        m.run_inline("t.render", {"width": -1})
    with pytest.raises(UnknownJobKind):
        m.run_inline("t.nope")


def test_requeued_jobs_keep_priority_then_fifo_order_after_a_restart(make_manager, lab):
    first = make_manager(start=False)  # takes submissions, never runs them
    for name, priority in [("a", 0), ("b", 0), ("hi", 4), ("c", 0), ("d", 0), ("mid", 1)]:
        first.submit("t.record", {"name": name}, priority=priority)
        time.sleep(0.002)  # distinct creation times
    ids = [j["id"] for j in first.list()]

    second = make_manager(workers=1)
    for job_id in ids:
        assert wait_done(second, job_id)["state"] == "succeeded"
    assert lab.ran == ["hi", "mid", "a", "b", "c", "d"]
