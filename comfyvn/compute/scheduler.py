"""The compute scheduler: which device runs which render job next.

Jobs wait in heaps keyed ``(-priority, seq)`` (higher priority first, FIFO within one): one per pool
(``local``, ``remote``, ``any``), one per pinned device, one per ``(pool, affinity)``. Affinity heaps
are grouped by the device their key sticks to, each group a heap of heap tops (stale entries dropped
as they surface), so ``claim`` reads a few heap tops: O(log n). Thread-safe; injectable clock.
"""

from __future__ import annotations

import heapq
import statistics
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comfyvn.compute.providers import Device
from comfyvn.core.errors import Conflict, InvalidInput, NotFound

HEALTH = ("healthy", "degraded", "down")
POOLS = ("local", "remote", "any")
DURATIONS_KEPT = 256  # per device, for the board's figures


@dataclass
class Job:
    id: str
    seq: int
    kind: str = "render"
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    pool: str = "any"
    device: str | None = None  # pinned: only this device claims it
    affinity: str | None = None
    max_attempts: int = 3
    status: str = "queued"  # queued, running, done, failed
    attempts: int = 0
    assigned: str | None = None
    enqueued_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    telemetry: dict[str, Any] | None = None
    placed: bool = False  # started by place(): the server's own render, never queued for workers

    def key(self) -> tuple[int, int, str]:
        return (-self.priority, self.seq, self.id)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"payload": dict(self.payload)}


@dataclass
class _DeviceState:
    device: Device
    status: str = "healthy"
    last_error: str | None = None
    last_check: float | None = None
    running: set[str] = field(default_factory=set)
    completed: int = 0
    failed: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=DURATIONS_KEPT))
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("cost_estimate", "duration_sec", "bytes_tx", "bytes_rx", "vram_minutes"), 0))

    def saturated(self) -> bool:
        return len(self.running) >= self.device.max_concurrent


def _number(metrics: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = metrics.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise InvalidInput(f"metrics.{name} must be a finite number >= 0, not {value!r}",
                           details={"field": f"metrics.{name}"})
    return value


def _integer(job: Mapping[str, Any], name: str, default: int) -> int:
    value = job.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer, not {value!r}", details={"field": name})
    return value


class Scheduler:
    """Queues of render jobs and the devices that claim them."""

    def __init__(self, devices: Iterable[Device] = (), *, clock: Callable[[], float] = time.time,
                 history_limit: int = 1000) -> None:
        self.clock = clock
        self.history_limit = history_limit
        self._lock = threading.RLock()
        self._seq = 0
        self._devices: dict[str, _DeviceState] = {}
        self._jobs: dict[str, Job] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._pinned: dict[str, list] = {}
        self._pools: dict[str, list] = {pool: [] for pool in POOLS}
        self._buckets: dict[tuple[str, str], list] = {}  # (pool, affinity) -> job heap
        self._groups: dict[tuple[str | None, str], list] = {}  # (sticky device, pool) -> bucket tops
        self._sticky: dict[str, str] = {}  # affinity -> device that last ran it
        for device in devices:
            self.set_device(device)

    def set_device(self, device: Device) -> None:
        """Add a device, or update one keeping its health, running jobs and figures."""
        if device.location not in ("local", "remote"):
            raise InvalidInput(f"device location must be 'local' or 'remote', not {device.location!r}")
        with self._lock:
            state = self._devices.get(device.id)
            if state is None:
                self._devices[device.id] = _DeviceState(device)
            else:
                state.device = device

    def device(self, device_id: str) -> Device:
        with self._lock:
            return self._state(device_id).device

    def remove_device(self, device_id: str) -> list[str]:
        """Forget a device: its running jobs are requeued, jobs pinned to it fail. Returns the requeued ids."""
        with self._lock:
            self._state(device_id)
            requeued = self._release_all(device_id)
            for entry in self._pinned.pop(device_id, []):
                job = self._jobs[entry[2]]
                job.status, job.error, job.finished_at = "failed", f"device '{device_id}' was removed", self.clock()
                self._finish(job)
            del self._devices[device_id]
            return requeued

    def sync(self, devices: Iterable[Device]) -> None:
        """Make the device set exactly ``devices`` (the provider registry's enabled providers)."""
        with self._lock:
            wanted = {device.id: device for device in devices}
            for device_id in [d for d in self._devices if d not in wanted]:
                self.remove_device(device_id)
            for device in wanted.values():
                self.set_device(device)

    def health(self, device_id: str, status: str, error: str | None = None) -> dict[str, Any]:
        """Record a health check. ``down`` requeues the device's running jobs (failover)."""
        if status not in HEALTH:
            raise InvalidInput(f"health status must be one of {', '.join(HEALTH)}, not {status!r}",
                               details={"field": "status"})
        with self._lock:
            state = self._state(device_id)
            previous = state.status
            state.status, state.last_check = status, self.clock()
            state.last_error = error if status != "healthy" else None
            requeued = self._release_all(device_id) if status == "down" else []
            return {"device": device_id, "status": status, "previous": previous, "last_error": state.last_error,
                    "last_check": state.last_check, "requeued": requeued}

    def enqueue(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a job: ``{id?, kind, payload, priority, pool, device, affinity, max_attempts}``."""
        pool = job.get("pool") or "any"
        if pool not in POOLS:
            raise InvalidInput(f"pool must be one of {', '.join(POOLS)}, not {pool!r}", details={"field": "pool"})
        with self._lock:
            job_id = str(job.get("id") or uuid.uuid4().hex[:16])
            if job_id in self._jobs:
                raise Conflict(f"job '{job_id}' is already scheduled; use another id or requeue it",
                               details={"job_id": job_id})
            device = job.get("device") or None
            if device is not None and device not in self._devices:
                raise InvalidInput(f"unknown device '{device}': add it in /api/providers or leave 'device' empty",
                                   details={"field": "device"})
            payload = job.get("payload") or {}
            if not isinstance(payload, Mapping):
                raise InvalidInput("payload must be an object", details={"field": "payload"})
            self._seq += 1
            entry = Job(id=job_id, seq=self._seq, kind=str(job.get("kind") or "render"), payload=dict(payload),
                        priority=_integer(job, "priority", 0), pool=pool, device=device,
                        affinity=str(job["affinity"]) if job.get("affinity") else None,
                        max_attempts=max(1, _integer(job, "max_attempts", 3)), enqueued_at=self.clock())
            self._jobs[job_id] = entry
            self._push(entry)
            return entry.to_dict()

    def claim(self, device_id: str) -> dict[str, Any] | None:
        """The next job for ``device_id`` (now running there), or None when it is down, full or idle."""
        with self._lock:
            state = self._state(device_id)
            if state.status == "down" or state.saturated():
                return None
            pools = (state.device.location, "any")
            heaps = [self._pinned.get(device_id)] + [self._pools[pool] for pool in pools]
            best, source = None, None
            for heap in heaps:
                if heap and (best is None or heap[0][:2] < best[:2]):
                    best, source = heap[0], heap
            owners = [device_id, None] + [owner for owner in {key[0] for key in self._groups}
                                          if owner not in (device_id, None) and not self._holds(owner)]
            for owner in owners:
                for pool in pools:
                    top = self._group_top((owner, pool))
                    if top is not None and (best is None or top[:2] < best[:2]):
                        best, source = top, (top[3], top[4])
            if best is None:
                return None
            if isinstance(source, tuple):
                job = self._jobs[self._pop_bucket(source, device_id)[2]]
            else:
                job = self._jobs[heapq.heappop(source)[2]]
            job.status, job.assigned, job.started_at = "running", device_id, self.clock()
            job.attempts += 1
            state.running.add(job.id)
            return job.to_dict()

    def place(self, job: Mapping[str, Any], *, kinds: Iterable[str] = ("comfyui",)) -> dict[str, Any] | None:
        """Start one job now on the best device of ``kinds`` (the server's own renders, which do not
        wait in the queues): the device its affinity sticks to when that one is up and has room, else
        the one with the fewest running jobs (healthy before degraded, then by priority). The job
        is recorded running there, so the board, costs and stickiness include it. None when every
        such device is down or full (the caller waits); :class:`NotFound` when there is none at all."""
        with self._lock:
            fitting = [s for s in self._ordered() if s.device.kind in tuple(kinds)]
            if not fitting:
                raise NotFound(f"no {' or '.join(kinds)} device is configured", details={"kinds": list(kinds)})
            free = [s for s in fitting if s.status != "down" and not s.saturated()]
            affinity = str(job["affinity"]) if job.get("affinity") else None
            sticky = self._sticky.get(affinity) if affinity else None
            chosen = next((s for s in free if s.device.id == sticky), None) or min(
                free, key=lambda s: (s.status == "degraded", len(s.running), -s.device.priority, s.device.id),
                default=None)
            if chosen is None:
                return None
            self._seq += 1
            now = self.clock()
            entry = Job(id=str(job.get("id") or uuid.uuid4().hex[:16]), seq=self._seq,
                        kind=str(job.get("kind") or "render"), payload=dict(job.get("payload") or {}),
                        priority=_integer(job, "priority", 0), affinity=affinity, max_attempts=1, status="running",
                        attempts=1, assigned=chosen.device.id, enqueued_at=now, started_at=now,
                        device=chosen.device.id, placed=True)
            self._jobs[entry.id] = entry
            chosen.running.add(entry.id)
            if affinity:
                self._sticky[affinity] = chosen.device.id
            return entry.to_dict()

    def complete(self, job_id: str, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Finish a running job; its telemetry is priced with the device's metadata."""
        metrics = metrics or {}
        with self._lock:
            job = self._running(job_id, "complete")
            now = self.clock()
            duration = _number(metrics, "duration_sec", max(0.0, now - (job.started_at or now)))
            bytes_tx = int(_number(metrics, "bytes_tx", 0) or 0)
            bytes_rx = int(_number(metrics, "bytes_rx", 0) or 0)
            vram = _number(metrics, "vram_gb", None)
            state = self._devices[job.assigned or ""]
            job.telemetry = state.device.cost(float(duration or 0.0), bytes_tx, bytes_rx, vram)
            state.running.discard(job.id)
            state.completed += 1
            state.durations.append(job.telemetry["duration_sec"])
            for name in state.totals:
                state.totals[name] += job.telemetry[name]
            job.status, job.finished_at, job.error = "done", now, None
            self._finish(job)
            return job.to_dict()

    def fail(self, job_id: str, error: str, retry: bool = False) -> dict[str, Any]:
        """A running job failed: requeued when ``retry`` and attempts remain, else failed for good."""
        with self._lock:
            job = self._running(job_id, "fail")
            state = self._devices[job.assigned or ""]
            state.running.discard(job.id)
            state.failed += 1
            job.error = error
            if retry and job.attempts < job.max_attempts:
                self._requeue(job)
            else:
                job.status, job.assigned, job.finished_at = "failed", None, self.clock()
                self._finish(job)
            return job.to_dict()

    def requeue(self, job_id: str) -> dict[str, Any]:
        """Put a running or failed job back in its queue, at its original place."""
        with self._lock:
            job = self._job(job_id)
            if job.device is not None and job.device not in self._devices:
                raise Conflict(f"job '{job_id}' is pinned to device '{job.device}', which is gone; enqueue it anew")
            if job.status == "running":
                self._devices[job.assigned or ""].running.discard(job.id)
            elif job.status == "failed":
                self._finished.pop(job.id, None)
            else:
                raise Conflict(f"job '{job_id}' is {job.status}; only running or failed jobs can be requeued",
                               details={"job_id": job_id, "status": job.status})
            self._requeue(job)
            return job.to_dict()

    def get(self, job_id: str) -> dict[str, Any]:
        """One job as a dict."""
        with self._lock:
            return self._job(job_id).to_dict()

    def state(self) -> dict[str, Any]:
        """Devices, queue lengths per pool, job counts per status and the affinity map."""
        with self._lock:
            queued = {pool: len(heap) for pool, heap in self._pools.items()}
            for (pool, _key), bucket in self._buckets.items():
                queued[pool] += len(bucket)
            counts = dict.fromkeys(("queued", "running", "done", "failed"), 0)
            for job in self._jobs.values():
                counts[job.status] += 1
            return {"devices": [self._describe(state) for state in self._ordered()], "queued": queued,
                    "pinned": {device: len(heap) for device, heap in sorted(self._pinned.items()) if heap},
                    "jobs": counts, "affinity": dict(sorted(self._sticky.items()))}

    def board(self) -> dict[str, Any]:
        """Per device: queue, running jobs, durations and costs."""
        with self._lock:
            waiting: dict[str | None, int] = {}
            for (_pool, key), bucket in self._buckets.items():
                owner = self._sticky.get(key)
                waiting[owner] = waiting.get(owner, 0) + len(bucket)
            rows = []
            for state in self._ordered():
                durations = list(state.durations)
                rows.append(self._describe(state) | {
                    "queued": len(self._pinned.get(state.device.id, ())) + waiting.get(state.device.id, 0),
                    "running": sorted(state.running), "completed": state.completed, "failed": state.failed,
                    "durations": {"count": len(durations),
                                  "mean": round(statistics.fmean(durations), 6) if durations else None,
                                  "p50": round(statistics.median(durations), 6) if durations else None,
                                  "max": max(durations) if durations else None},
                    "costs": {name: round(value, 6) for name, value in state.totals.items()}})
            unassigned = sum(len(heap) for heap in self._pools.values()) + sum(
                count for owner, count in waiting.items() if owner is None or owner not in self._devices)
            return {"devices": rows, "unassigned": unassigned}

    # internals -----------------------------------------------------------------------------
    def _state(self, device_id: str) -> _DeviceState:
        state = self._devices.get(device_id)
        if state is None:
            raise NotFound(f"device '{device_id}' was not found; list devices at /api/schedule/state",
                           details={"kind": "device", "id": device_id})
        return state

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"job '{job_id}' was not found", details={"kind": "job", "id": job_id})
        return job

    def _running(self, job_id: str, action: str) -> Job:
        job = self._job(job_id)
        if job.status != "running":
            raise Conflict(f"cannot {action} job '{job_id}': it is {job.status}, not running",
                           details={"job_id": job_id, "status": job.status})
        return job

    def _holds(self, device_id: str | None) -> bool:
        """Whether a device keeps its affinity keys: known, healthy and not full."""
        state = self._devices.get(device_id or "")
        return state is not None and state.status == "healthy" and not state.saturated()

    def _push(self, job: Job) -> None:
        if job.device is not None:
            heapq.heappush(self._pinned.setdefault(job.device, []), job.key())
        elif job.affinity is not None:
            bucket = self._buckets.setdefault((job.pool, job.affinity), [])
            heapq.heappush(bucket, job.key())
            if bucket[0][1] == job.seq:
                self._announce(job.pool, job.affinity)
        else:
            heapq.heappush(self._pools[job.pool], job.key())

    def _announce(self, pool: str, key: str) -> None:
        """Enter a bucket's current top in the group of the device its key sticks to."""
        top = self._buckets[(pool, key)][0]
        heapq.heappush(self._groups.setdefault((self._sticky.get(key), pool), []), (*top[:2], top[2], pool, key))

    def _group_top(self, group: tuple[str | None, str]) -> tuple | None:
        heap = self._groups.get(group)
        while heap:
            _negp, seq, _job, pool, key = heap[0]
            bucket = self._buckets.get((pool, key))
            if bucket and bucket[0][1] == seq and self._sticky.get(key) == group[0]:
                return heap[0]
            heapq.heappop(heap)
        self._groups.pop(group, None)
        return None

    def _pop_bucket(self, where: tuple[str, str], device_id: str) -> tuple:
        pool, key = where
        bucket = self._buckets[where]
        entry = heapq.heappop(bucket)
        if not bucket:
            del self._buckets[where]
        if self._sticky.get(key) != device_id:  # failover or first run: the key now sticks here
            self._sticky[key] = device_id
            for other in POOLS:
                if (other, key) in self._buckets:
                    self._announce(other, key)
        elif bucket:
            self._announce(pool, key)
        return entry

    def _requeue(self, job: Job) -> None:
        job.status, job.assigned, job.started_at, job.finished_at = "queued", None, None, None
        self._push(job)

    def _release_all(self, device_id: str) -> list[str]:
        """A device went: its workers' jobs go back in the queues; placed jobs (the server's own
        renders, whose caller fails over by itself) end failed and are never handed to a worker."""
        state = self._devices[device_id]
        running = sorted(state.running, key=lambda job_id: self._jobs[job_id].seq)
        requeued = []
        for job_id in running:
            job = self._jobs[job_id]
            if job.placed:
                job.status, job.error, job.finished_at = "failed", f"device '{device_id}' went down", self.clock()
                state.failed += 1
                self._finish(job)
            else:
                self._requeue(job)
                requeued.append(job_id)
        state.running.clear()
        return requeued

    def _finish(self, job: Job) -> None:
        self._finished[job.id] = None
        while len(self._finished) > self.history_limit:
            old, _ = self._finished.popitem(last=False)
            self._jobs.pop(old, None)

    def _ordered(self) -> list[_DeviceState]:
        return sorted(self._devices.values(), key=lambda s: (-s.device.priority, s.device.id))

    @staticmethod
    def _describe(state: _DeviceState) -> dict[str, Any]:
        device = state.device
        return {"device": device.id, "label": device.label, "kind": device.kind, "location": device.location,
                "priority": device.priority, "max_concurrent": device.max_concurrent, "status": state.status,
                "last_error": state.last_error, "last_check": state.last_check, "load": len(state.running)}
