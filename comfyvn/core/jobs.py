"""The job manager: the one way long work runs, in the server and in the CLI.

Domains declare job kinds (``comfyvn_job_kinds`` plugin hook). A kind's handler is called with a
:class:`JobContext` and reports progress and log lines through it. Isolation per kind:

* ``thread`` (default): runs on a worker thread. A coroutine handler is cancelled for real on
  kill; a plain function is stopped at its next ``ctx.progress()`` / ``ctx.check_cancelled()``.
* ``process``: runs in a child process (spawned, so safe beside threads); kill terminates it.

States: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``cancelled``; ``delayed`` jobs wait
for their start time. Every change is persisted to SQLite (:mod:`comfyvn.core.job_store`), sent to
listeners (the ``/jobs/ws`` stream) and published on the hook bus, in the order it happened.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil
from pydantic import ValidationError

from comfyvn.core.errors import ComfyVNError, Conflict, InvalidInput, NotFound
from comfyvn.core.job_process import run_in_process
from comfyvn.core.job_store import JobStore
from comfyvn.core.job_types import (  # noqa: F401  (re-exported: the public home of job types)
    CANCELLED,
    DELAYED,
    FAILED,
    FINISHED,
    INTERRUPTED_REASON,
    PROGRESS_INTERVAL,
    QUEUED,
    RUNNING,
    STATES,
    SUCCEEDED,
    Job,
    JobCancelled,
    JobContext,
    JobKind,
    UnknownJobKind,
    describe,
    resolve_handler,
)

log = logging.getLogger(__name__)

Update = dict[str, Any]
UpdateListener = Callable[[Update], None]
# (kind, params, counts) -> None to admit, or (delay in seconds, reason) to defer the job; counts()
# gives the other active jobs {"queued", "delayed", "running"}. Runs under the manager's lock: be quick.
Admission = Callable[[str, Mapping[str, Any], Callable[[], dict[str, int]]], "tuple[float, str] | None"]


@dataclass
class _Running:
    job: Job
    cancel: threading.Event
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[Any] | None = None
    process: Any = None
    last_progress_note: float = 0.0
    log_seq: int = 0


def _default_kinds() -> dict[str, JobKind]:
    from comfyvn.core import plugins

    return plugins.job_kinds()


def _default_emit(event: str, payload: Mapping[str, Any]) -> None:
    from comfyvn.core import modder_hooks

    modder_hooks.emit(event, payload)


class JobManager:
    def __init__(
        self,
        store: JobStore,
        *,
        workers: int = 2,
        kinds: Callable[[], Mapping[str, JobKind]] = _default_kinds,
        emit: Callable[[str, Mapping[str, Any]], Any] | None = _default_emit,
        history_limit: int = 5000,
    ) -> None:
        self.store = store
        self.workers = max(1, int(workers))
        self._kinds = kinds
        self._emit = emit
        self.history_limit = history_limit
        self._cond = threading.Condition(threading.RLock())
        self._ready: list[tuple[int, int, str]] = []
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._jobs: dict[str, Job] = {}  # jobs not yet finished
        self._running: dict[str, _Running] = {}
        self._outbox: deque[tuple[str, Any]] = deque()
        self._flush_lock = threading.Lock()
        self._listeners: list[UpdateListener] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._admission: Admission | None = None

    # -- kinds ----------------------------------------------------------------------------------
    def kinds(self) -> dict[str, JobKind]:
        return dict(self._kinds())

    def kind(self, name: str) -> JobKind:
        kind = self._kinds().get(name)
        if kind is None:
            known = ", ".join(sorted(self._kinds())) or "none"
            raise UnknownJobKind(
                f"unknown job kind '{name}' (known kinds: {known})", details={"field": "kind", "kind": name}
            )
        return kind

    def _validate_params(self, kind: JobKind, params: Mapping[str, Any] | None) -> Any:
        params = dict(params or {})
        if kind.params is None:
            try:
                json.dumps(params)
            except TypeError as exc:
                raise InvalidInput(f"job parameters must be JSON: {exc}") from exc
            return params
        try:
            return kind.params.model_validate(params).model_dump(mode="json")
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in err["loc"]) or "params", "message": err["msg"]}
                for err in exc.errors()
            ]
            first = problems[0]
            raise InvalidInput(
                f"invalid parameter '{first['field']}' for job kind '{kind.name}': {first['message']}",
                details={"errors": problems},
            ) from exc

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover history from the store and start the worker threads."""
        self._recover()
        self._stopping = False
        for index in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"comfyvn-job-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _recover(self) -> None:
        kinds = self._kinds()
        with self._cond:
            # oldest first, so re-queued jobs keep FIFO order among equal priorities
            for data in sorted(self.store.active(), key=lambda d: d["created_at"]):
                job = Job.from_dict(data)
                if job.state == RUNNING and _alive_elsewhere(job.worker_pid, job.started_at):
                    continue  # a CLI run in another process owns it
                if job.state == RUNNING:
                    job.state, job.error, job.finished_at = FAILED, INTERRUPTED_REASON, time.time()
                    job.message = "interrupted"
                    self._outbox.append(("job", job.as_dict()))
                elif job.kind not in kinds:
                    job.state, job.finished_at = FAILED, time.time()
                    job.error = f"job kind '{job.kind}' is no longer available"
                    self._outbox.append(("job", job.as_dict()))
                else:
                    self._jobs[job.id] = job
                    self._enqueue(job)
        self._flush()
        self.store.delete_finished(keep=self.history_limit)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking work, cancel running jobs and wait for workers. Queued jobs stay queued."""
        with self._cond:
            self._stopping = True
            running = list(self._running.values())
            self._cond.notify_all()
        for entry in running:
            self._request_cancel(entry, reason="server shutting down")
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._flush()

    # -- listeners ------------------------------------------------------------------------------
    def add_listener(self, listener: UpdateListener) -> Callable[[], None]:
        with self._cond:
            self._listeners = [*self._listeners, listener]

        def remove() -> None:
            with self._cond:
                self._listeners = [x for x in self._listeners if x is not listener]

        return remove

    def _note(self, job: Job, event: str | None) -> None:
        """Queue a notification of ``job``'s current state. Call with ``_cond`` held."""
        self._outbox.append(("job", job.as_dict()))
        if event:
            self._outbox.append(("event", (event, job.as_dict())))

    def _flush(self) -> None:
        """Publish queued notifications in order (store, listeners, bus)."""
        with self._flush_lock:
            while True:
                try:
                    kind, item = self._outbox.popleft()
                except IndexError:
                    return
                try:
                    if kind == "job":
                        self.store.save(item)
                        self._tell({"type": "job", "job": item})
                    elif kind == "log":
                        self.store.append_log(item["job_id"], item["seq"], item["line"], item["ts"])
                        self._tell({"type": "log", **item})
                    elif kind == "event" and self._emit is not None:
                        self._emit(*_event_payload(*item))
                except Exception:
                    log.exception("Publishing a job update failed", extra={"update_kind": kind})

    def _tell(self, update: Update) -> None:
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                log.exception("Job listener failed")

    # -- queries --------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any]:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.as_dict()
        stored = self.store.get(job_id)
        if stored is None:
            raise NotFound(f"job '{job_id}' was not found", details={"kind": "job", "id": job_id})
        return stored

    def list(self, *, state: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        if state and state not in STATES:
            raise InvalidInput(f"unknown job state '{state}' (states: {', '.join(STATES)})", details={"state": state})
        self._flush()
        return self.store.list(states=[state] if state else None, kind=kind, limit=limit, offset=offset)

    def logs(self, job_id: str, *, offset: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        self.get(job_id)
        self._flush()
        return self.store.logs(job_id, offset=offset, limit=limit)

    def counts(self) -> dict[str, int]:
        """Jobs per state: active ones from memory, finished ones from the history."""
        self._flush()
        stored = self.store.counts()
        counts = {state: stored.get(state, 0) if state in FINISHED else 0 for state in STATES}
        with self._cond:
            for job in self._jobs.values():
                counts[job.state] += 1
        return counts

    # -- admission ------------------------------------------------------------------------------
    def set_admission(self, admission: Admission | None) -> None:
        """Install (None removes) the check consulted whenever a job is about to be queued: at
        submit and when a delayed job falls due. A deferral keeps the job ``delayed`` for the
        returned seconds, with the reason as its message (the perf budgets use this)."""
        with self._cond:
            self._admission = admission

    def active_counts(self) -> dict[str, int]:
        """Queued, delayed and running jobs, from memory (cheap; safe inside hook listeners)."""
        counts = {QUEUED: 0, DELAYED: 0, RUNNING: 0}
        with self._cond:
            for job in self._jobs.values():
                if job.state in counts:
                    counts[job.state] += 1
        return counts

    def _deferral(self, job: Job) -> tuple[float, str] | None:
        """Ask the admission check about ``job``. Call with ``_cond`` held; a failing check admits."""
        if self._admission is None:
            return None

        def counts() -> dict[str, int]:
            active = self.active_counts()
            if job.id in self._jobs:
                active[job.state] -= 1
            return active

        try:
            decision = self._admission(job.kind, job.params, counts)
            if decision is None:
                return None
            delay, reason = decision
            return max(0.001, float(delay)), str(reason)
        except Exception:
            log.exception("Job admission check failed; admitting the job", extra={"job_kind": job.kind})
            return None

    # -- commands -------------------------------------------------------------------------------
    def submit(
        self, kind: str, params: Mapping[str, Any] | None = None, *, priority: int = 0, delay: float = 0.0
    ) -> dict[str, Any]:
        job_kind = self.kind(kind)
        if delay < 0:
            raise InvalidInput("delay must not be negative", details={"field": "delay"})
        validated = self._validate_params(job_kind, params)
        now = time.time()
        job = Job(
            id=uuid.uuid4().hex,
            kind=kind,
            params=validated,
            state=DELAYED if delay > 0 else QUEUED,
            priority=int(priority),
            created_at=now,
            run_at=now + delay if delay > 0 else None,
        )
        with self._cond:
            if self._stopping:
                raise Conflict("the job manager is shutting down; submit again after restart")
            deferral = None if job.state == DELAYED else self._deferral(job)
            if deferral is not None:
                job.state, job.run_at, job.message = DELAYED, now + deferral[0], deferral[1]
            self._jobs[job.id] = job
            self._enqueue(job)
            self._note(job, "on_job_submitted")
            snapshot = job.as_dict()
        self._flush()
        return snapshot

    def _enqueue(self, job: Job) -> None:
        if job.state == DELAYED and job.run_at is not None:
            heapq.heappush(self._delayed, (job.run_at, next(self._seq), job.id))
        else:
            job.state = QUEUED
            heapq.heappush(self._ready, (-job.priority, next(self._seq), job.id))
        self._cond.notify()

    def kill(self, job_id: str) -> dict[str, Any]:
        """Cancel a job: queued and delayed jobs at once, running ones by stopping their work."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                stored = self.get(job_id)  # raises NotFound for unknown ids
                raise Conflict(
                    f"job '{job_id}' already finished ({stored['state']})",
                    details={"id": job_id, "state": stored["state"]},
                )
            if job.state in (QUEUED, DELAYED):
                self._finish(job, CANCELLED, message="cancelled before it started")
                snapshot = job.as_dict()
                entry = None
            else:
                job.cancel_requested = True
                job.message = "cancelling"
                self._note(job, None)
                snapshot = job.as_dict()
                entry = self._running.get(job_id)
        if entry is not None:
            self._request_cancel(entry, reason="killed by request")
        self._flush()
        return snapshot

    def _request_cancel(self, entry: _Running, *, reason: str) -> None:
        entry.cancel.set()
        self._append_log(entry, f"cancel requested: {reason}")
        if entry.loop is not None and entry.task is not None:
            entry.loop.call_soon_threadsafe(entry.task.cancel)
        if entry.process is not None and entry.process.is_alive():
            entry.process.terminate()

    def reset(self) -> int:
        """Remove every finished job from the history; active jobs stay."""
        self._flush()
        return self.store.delete_finished(keep=0)

    # -- running --------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
                if job is None:
                    return
                entry = _Running(job=job, cancel=threading.Event())
                self._running[job.id] = entry
                job.state, job.started_at, job.message = RUNNING, time.time(), "running"
                job.worker_pid = os.getpid()
                self._note(job, "on_job_started")
            self._flush()
            self._execute(entry)

    def _next_job(self) -> Job | None:
        while not self._stopping:
            now = time.time()
            while self._delayed and self._delayed[0][0] <= now:
                _, _, job_id = heapq.heappop(self._delayed)
                job = self._jobs.get(job_id)
                if job is not None and job.state == DELAYED:
                    deferral = self._deferral(job)
                    if deferral is not None:
                        job.run_at, job.message = now + deferral[0], deferral[1]
                        heapq.heappush(self._delayed, (job.run_at, next(self._seq), job.id))
                        self._note(job, None)
                        continue
                    job.state, job.message = QUEUED, ""
                    heapq.heappush(self._ready, (-job.priority, next(self._seq), job.id))
                    self._note(job, None)
            while self._ready:
                _, _, job_id = heapq.heappop(self._ready)
                job = self._jobs.get(job_id)
                if job is not None and job.state == QUEUED:
                    return job
            timeout = self._delayed[0][0] - now if self._delayed else None
            self._cond.wait(timeout)
        return None

    def _execute(self, entry: _Running) -> None:
        job = entry.job
        kind = self._kinds().get(job.kind)
        try:
            if kind is None:
                raise ComfyVNError(f"job kind '{job.kind}' is no longer available")
            if kind.isolation == "process":
                result = self._run_process(entry, kind)
            else:
                result = self._run_thread(entry, kind)
            json.dumps(result)
        except (JobCancelled, asyncio.CancelledError):
            self._complete(entry, CANCELLED, message="cancelled")
            return
        except Exception as exc:
            self._complete(entry, FAILED, error=describe(exc), trace=traceback.format_exc())
            return
        if entry.cancel.is_set():
            self._complete(entry, CANCELLED, message="cancelled (finished after the kill; result discarded)")
        else:
            self._complete(entry, SUCCEEDED, result=result, message="done")

    def _context(self, entry: _Running) -> JobContext:
        return JobContext(
            entry.job.id,
            entry.job.params,
            on_progress=lambda fraction, message: self._progress(entry, fraction, message),
            on_log=lambda line: self._append_log(entry, line),
            cancel_event=entry.cancel,
        )

    def _run_thread(self, entry: _Running, kind: JobKind) -> Any:
        handler = kind.resolve()
        ctx = self._context(entry)
        if not inspect.iscoroutinefunction(handler):
            return handler(ctx)
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(handler(ctx))
            with self._cond:
                entry.loop, entry.task = loop, task
            if entry.cancel.is_set():
                task.cancel()
            return loop.run_until_complete(task)
        finally:
            with self._cond:
                entry.loop, entry.task = None, None
            loop.close()

    def _run_process(self, entry: _Running, kind: JobKind) -> Any:
        if not isinstance(kind.handler, str):
            raise ComfyVNError(f"job kind '{kind.name}' runs in a process and needs an import path handler")

        def started(process: Any) -> None:
            with self._cond:
                entry.process = process

        return run_in_process(
            kind.handler, entry.job.id, entry.job.params, cancel=entry.cancel,
            on_progress=lambda fraction, message: self._progress(entry, fraction, message),
            on_log=lambda line: self._append_log(entry, line), on_start=started,
        )

    def _progress(self, entry: _Running, fraction: float | None, message: str | None) -> None:
        with self._cond:
            job = entry.job
            job.progress = fraction
            if message is not None:
                job.message = message
            now = time.monotonic()
            if now - entry.last_progress_note < PROGRESS_INTERVAL and fraction not in (0.0, 1.0):
                return
            entry.last_progress_note = now
            self._note(job, "on_job_progress")
        self._flush()

    def _append_log(self, entry: _Running, line: str) -> None:
        with self._cond:
            seq = entry.log_seq
            entry.log_seq += 1
            self._outbox.append(("log", {"job_id": entry.job.id, "seq": seq, "ts": time.time(), "line": line}))
        self._flush()

    def _complete(self, entry: _Running, state: str, *, result: Any = None, error: str | None = None,
                  message: str | None = None, trace: str | None = None) -> None:
        if trace:
            self._append_log(entry, trace.rstrip())
            log.error("Job failed", extra={"job_id": entry.job.id, "job_kind": entry.job.kind, "error": error})
        with self._cond:
            self._running.pop(entry.job.id, None)
            self._finish(entry.job, state, result=result, error=error, message=message)
        self._flush()

    def _finish(self, job: Job, state: str, *, result: Any = None, error: str | None = None,
                message: str | None = None) -> None:
        job.state = state
        job.finished_at = time.time()
        job.result = result
        job.error = error
        if state == SUCCEEDED:
            job.progress = 1.0
        job.message = message or (error or state)
        self._jobs.pop(job.id, None)
        self._note(job, "on_job_finished")

    # -- in-process runs (CLI) ------------------------------------------------------------------
    def run_inline(self, kind: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one job in the calling thread, recorded in the same history. Ctrl-C cancels it."""
        job_kind = self.kind(kind)
        validated = self._validate_params(job_kind, params)
        job = Job(
            id=uuid.uuid4().hex, kind=kind, params=validated, state=RUNNING,
            started_at=time.time(), worker_pid=os.getpid(),
        )
        entry = _Running(job=job, cancel=threading.Event())
        with self._cond:
            self._jobs[job.id] = job
            self._running[job.id] = entry
            self._note(job, "on_job_submitted")
            self._note(job, "on_job_started")
        self._flush()
        try:
            self._execute(entry)
        except KeyboardInterrupt:
            self._complete(entry, CANCELLED, message="interrupted by the user")
        return self.get(job.id)


def _alive_elsewhere(pid: int | None, started_at: float | None) -> bool:
    """True when another live process (a CLI run) owns a running job. A process that started
    after the job did merely reuses the pid of a dead owner."""
    if not pid or pid == os.getpid():
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= (started_at or 0) + 1
    except psutil.Error:
        return False


def _event_payload(event: str, job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    base = {"job_id": job["id"], "kind": job["kind"]}
    if event == "on_job_submitted":
        return event, {**base, "state": job["state"], "priority": job["priority"]}
    if event == "on_job_started":
        return event, base
    if event == "on_job_progress":
        return event, {**base, "progress": job["progress"], "message": job["message"]}
    duration = None
    if job["started_at"] and job["finished_at"]:
        duration = round(job["finished_at"] - job["started_at"], 6)
    return event, {**base, "state": job["state"], "error": job["error"], "duration_sec": duration}
