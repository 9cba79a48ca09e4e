"""Perf budgets: job queue caps, CPU and VRAM limits, lazy eviction of an asset working set.

Limits: settings section ``perf`` over :data:`DEFAULT_LIMITS` (``null``: no limit). While
``enable_perf_budgets`` is on the job manager asks :meth:`BudgetManager.admit` before queueing a
job; one over a cap waits as ``delayed`` and is asked again after ``retry_delay_seconds``. CPU comes
from psutil, VRAM from device reports (providers know it). The working set is an in-memory LRU whose
evictions are returned to their owners; touches are forwarded to the dedup cache. See docs/perf.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from comfyvn.config import feature_flags
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

OK, CONSTRAINED = "ok", "constrained"
Counts = Mapping[str, int] | Callable[[], Mapping[str, int]] | None  # job counts, or how to get them
DEFAULT_LIMITS: dict[str, Any] = {
    "max_queued_jobs": None,  # jobs waiting in the queue (ours plus registered external ones)
    "max_running_jobs": None,
    "max_cpu_percent": None,  # system-wide, 0-100
    "max_vram_gb": None,  # per device, from device reports
    "max_cached_assets": None,  # assets in the working set
    "max_cached_bytes": None,
    "retry_delay_seconds": 2.0,  # how long a deferred job waits before it is asked about again
    "device_report_ttl_seconds": 120.0,  # older device reports are ignored
}
_WHOLE = {"max_queued_jobs", "max_running_jobs", "max_cached_assets", "max_cached_bytes"}
_REQUIRED = {"retry_delay_seconds", "device_report_ttl_seconds"}
_JOB_LIMITS = ("max_queued_jobs", "max_running_jobs", "max_cpu_percent", "max_vram_gb")
CPU_SAMPLE_SECONDS = 0.5


def validate_limits(patch: Mapping[str, Any]) -> dict[str, Any]:
    """Check a (partial) set of limits; raise InvalidInput naming the first bad key."""
    if not isinstance(patch, Mapping):
        raise InvalidInput("limits must be a JSON object")
    clean: dict[str, Any] = {}
    for key, value in patch.items():
        if key not in DEFAULT_LIMITS:
            raise InvalidInput(f"unknown perf limit '{key}'; known limits: {', '.join(sorted(DEFAULT_LIMITS))}",
                               details={"field": key})
        if value is None and key not in _REQUIRED:
            clean[key] = None
            continue
        whole = key in _WHOLE
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value < 0:
            kind = "a whole number" if whole else "a number"
            extra = "" if key in _REQUIRED else " (or null for no limit)"
            raise InvalidInput(f"perf limit '{key}' must be {kind} of 0 or more{extra}, got {value!r}",
                               details={"field": key})
        if key == "max_cpu_percent" and value > 100:
            raise InvalidInput(f"perf limit 'max_cpu_percent' must be at most 100, got {value!r}",
                               details={"field": key})
        clean[key] = value if whole else float(value)
    return clean


_CHECKS = (("max_queued_jobs", "queued_jobs", "queued jobs", True),
           ("max_running_jobs", "running_jobs", "running jobs", True),
           ("max_cpu_percent", "cpu_percent", "CPU percent", False),
           ("max_vram_gb", "vram_gb", "VRAM GB on a device", False),
           ("max_cached_assets", "cached_assets", "cached assets", False),
           ("max_cached_bytes", "cached_bytes", "cached bytes", False))


def exceeded_limits(metrics: Mapping[str, Any], limits: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(limit, message) for every limit reached: job caps at the cap, the rest when over it."""
    found = []
    for key, metric, label, at_cap in _CHECKS:
        cap, value = limits.get(key), metrics.get(metric)
        if cap is not None and value is not None and (value > cap or (at_cap and value >= cap)):
            found.append((key, f"{label} {value} {'reached' if at_cap else 'over'} {key}={cap}"))
    return found


def _deferral(report: Mapping[str, Any]) -> tuple[float, str] | None:
    """(retry delay, reason) when a report has a job limit reached, else None."""
    blocking = [r for key, r in zip(report["exceeded"], report["reasons"]) if key in _JOB_LIMITS]
    if not blocking:
        return None
    return report["limits"]["retry_delay_seconds"], "deferred by perf budget: " + "; ".join(blocking)


class CpuMeter:
    """System CPU percent (psutil, since its previous reading), re-read at most every 0.5 s."""

    def __init__(self) -> None:
        self._at, self._value = -CPU_SAMPLE_SECONDS, 0.0

    def __call__(self) -> float:
        if time.monotonic() - self._at >= CPU_SAMPLE_SECONDS:
            self._at, self._value = time.monotonic(), float(psutil.cpu_percent(interval=None))
        return self._value


def _flag_on() -> bool:
    return feature_flags.is_enabled("enable_perf_budgets")


class BudgetManager:
    """Budgets for one process. ``settings`` (a SettingsManager) holds the limits; ``jobs`` (a
    JobManager) gives job counts; ``cpu`` and ``cache`` can be injected (tests, other hosts)."""

    def __init__(self, *, settings: Any = None, jobs: Any = None,
                 emit: Callable[[str, Mapping[str, Any]], Any] | None = modder_hooks.emit,
                 enabled: Callable[[], bool] = _flag_on, cpu: Callable[[], float] | None = None,
                 cache: Callable[[], Any] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or SettingsManager()
        self._jobs, self._emit = jobs, emit
        self.enabled, self._cpu, self._clock = enabled, cpu or CpuMeter(), clock
        self._cache_factory, self._cache = cache, None
        self._lock = threading.RLock()
        self._state = OK
        self._devices: dict[str, dict[str, Any]] = {}
        self._external: dict[str, dict[str, Any]] = {}  # job_id -> {"state", "kind", "device", "since"}
        self._assets: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._unsubscribe: list[Callable[[], None]] = []

    # -- limits ------------------------------------------------------------------------------------
    def limits(self) -> dict[str, Any]:
        """The defaults merged with the settings section ``perf`` (invalid stored values are logged and skipped)."""
        stored = self.settings.get("perf", {})
        merged = dict(DEFAULT_LIMITS)
        for key, value in (stored if isinstance(stored, Mapping) else {}).items():
            try:
                merged.update(validate_limits({key: value}) if key in DEFAULT_LIMITS else {})
            except InvalidInput as exc:
                log.warning("Ignoring an invalid perf limit in the settings", extra={"key": key, "error": str(exc)})
        return merged

    def set_limits(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and persist some limits (settings section ``perf``); return all limits."""
        clean = validate_limits(patch)
        if clean:
            self.settings.save({"perf": clean})
        return self.limits()

    # -- state ---------------------------------------------------------------------------------
    def metrics(self, counts: Counts = None, *, ttl: float | None = None) -> dict[str, Any]:
        """Current readings; ``counts`` are the job manager's active counts (read when omitted)."""
        if counts is None:
            counts = self._jobs.active_counts if self._jobs is not None else dict
        counts = counts() if callable(counts) else counts
        if ttl is None:
            ttl = self.limits()["device_report_ttl_seconds"]
        now = self._clock()
        with self._lock:
            fresh = {name: dict(r) for name, r in sorted(self._devices.items()) if now - r["reported_at"] <= ttl}
            external = [j["state"] for j in self._external.values()]
            assets = (len(self._assets), sum(a["bytes"] for a in self._assets.values()))
        return {"queued_jobs": int(counts.get("queued", 0)) + external.count("queued"),
                "running_jobs": int(counts.get("running", 0)) + external.count("running"),
                "delayed_jobs": int(counts.get("delayed", 0)), "cpu_percent": float(self._cpu()),
                "vram_gb": max((r["vram_used_gb"] for r in fresh.values()), default=None), "devices": fresh,
                "cached_assets": assets[0], "cached_bytes": assets[1]}

    def evaluate(self, counts: Counts = None) -> dict[str, Any]:
        """The budgets' verdict now, without recording it or emitting anything."""
        limits = self.limits()
        metrics = self.metrics(counts, ttl=limits["device_report_ttl_seconds"])
        exceeded = exceeded_limits(metrics, limits)
        return {"state": CONSTRAINED if exceeded else OK, "reasons": [m for _, m in exceeded],
                "exceeded": [k for k, _ in exceeded], "metrics": metrics, "limits": limits}

    def state(self, counts: Counts = None) -> dict[str, Any]:
        """Evaluate the budgets now; while budgets are on, emits ``on_perf_budget_state`` when the
        verdict changes (``ok`` <-> ``constrained``)."""
        report = self.evaluate(counts)
        enabled = bool(self.enabled())
        with self._lock:
            previous = self._state
            changed = enabled and report["state"] != previous
            if changed:
                self._state = report["state"]
        if changed and self._emit is not None:
            self._emit("on_perf_budget_state", {"previous": previous, **{
                k: report[k] for k in ("state", "reasons", "exceeded", "metrics")}})
        return {**report, "previous": previous, "enabled": enabled}

    def admit(self, kind: str = "", params: Any = None, counts: Counts = None) -> tuple[float, str] | None:
        """None to admit a job now, or (retry delay in seconds, reason) to defer it. Always admits
        while ``enable_perf_budgets`` is off. The job manager's admission hook: it emits nothing
        (the verdict is published from the job events that follow), so it is safe under its lock."""
        return _deferral(self.evaluate(counts)) if self.enabled() else None

    def apply(self) -> dict[str, Any]:
        """Re-read the limits, evaluate, and evict assets while over the asset limits."""
        evicted = self.evict()
        return {**self.state(), "evicted": evicted}

    # -- devices and external jobs ---------------------------------------------------------------
    def report_device(self, device: str, vram_used_gb: float, vram_total_gb: float | None = None) -> dict[str, Any]:
        """Record a device's VRAM use (from a provider's system stats)."""
        if not device:
            raise InvalidInput("device must name the device (e.g. a ComfyUI server id)", details={"field": "device"})
        report = {"vram_used_gb": float(vram_used_gb), "vram_total_gb": vram_total_gb, "reported_at": self._clock()}
        with self._lock:
            self._devices[device] = report
        self.state()
        return {"device": device, **report}

    def register_job(self, job_id: str, kind: str = "", device: str | None = None) -> dict[str, Any]:
        """Ask to queue work that runs elsewhere (a remote queue): ``queued`` (now tracked until
        finish) or ``delayed`` with ``retry_after`` seconds and ``reason`` (not tracked; ask again)."""
        answer: dict[str, Any] = {"job_id": job_id, "status": "queued", "reason": None, "retry_after": None}
        with self._lock:
            if job_id in self._external:
                return {**answer, "status": self._external[job_id]["state"]}
        report = self.state()
        decision = _deferral(report) if report["enabled"] else None
        if decision is not None:
            return {**answer, "status": "delayed", "reason": decision[1], "retry_after": decision[0]}
        with self._lock:
            self._external[job_id] = {"state": "queued", "kind": kind, "device": device, "since": self._clock()}
        return answer

    def start_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            self._require_job(job_id).update(state="running", since=self._clock())
            result = {"job_id": job_id, **self._external[job_id]}
        self.state()
        return result

    def finish_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._require_job(job_id)
            del self._external[job_id]
        self.state()
        return {"job_id": job_id, **job, "state": "finished"}

    def external_jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"job_id": key, **job} for key, job in sorted(self._external.items())]

    def _require_job(self, job_id: str) -> dict[str, Any]:  # call with the lock held
        if job_id not in self._external:
            raise NotFound(f"perf job '{job_id}' is not registered; register it first", details={"job_id": job_id})
        return self._external[job_id]

    # -- assets ------------------------------------------------------------------------------------
    def register_asset(self, key: str, size: int, *, pinned: bool = False,
                       cache_path: str | None = None) -> dict[str, Any]:
        """Add (or refresh) an asset in the working set as just used. While budgets are on, evicts
        least recently used assets when over the asset limits; returns ``{"asset", "evicted"}``."""
        if not key:
            raise InvalidInput("asset key must not be empty (use the asset uid or path)", details={"field": "key"})
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"asset bytes must be a whole number of 0 or more, got {size!r}", details={"field": "bytes"})
        now = self._clock()
        with self._lock:
            old = self._assets.pop(key, None)
            self._assets[key] = {"bytes": size, "pinned": bool(pinned), "cache_path": cache_path,
                                 "registered_at": old["registered_at"] if old else now, "last_access": now}
            record = {"key": key, **self._assets[key]}
        evicted = self.evict(keep=key) if self.enabled() else []
        self.state()
        return {"asset": record, "evicted": evicted}

    def touch_asset(self, key: str) -> dict[str, Any]:
        """Mark an asset as just used; forwarded to the dedup cache when it holds the asset."""
        with self._lock:
            self._require_asset(key)["last_access"] = self._clock()
            self._assets.move_to_end(key)
            result = {"key": key, **self._assets[key]}
        if result["cache_path"]:
            try:
                self.cache().touch(result["cache_path"])
            except NotFound:
                log.info("Touched asset is not in the dedup cache", extra={"key": key, "path": result["cache_path"]})
        return result

    def forget_asset(self, key: str) -> dict[str, Any]:
        """Remove an asset from the working set (its owner unloaded it)."""
        with self._lock:
            self._require_asset(key)
            result = {"key": key, **self._assets.pop(key)}
        self.state()
        return result

    def assets(self) -> list[dict[str, Any]]:
        """The working set, least recently used first (the eviction order, pinned ones aside)."""
        with self._lock:
            return [{"key": key, **record} for key, record in self._assets.items()]

    def evict(self, *, dry_run: bool = False, release_cache: bool = False, keep: str | None = None) -> list[dict[str, Any]]:
        """Drop unpinned assets, least recently used first, until the asset limits hold; return them.
        ``dry_run`` only lists them; ``release_cache`` also releases their dedup cache entries
        (skipping entries pinned there)."""
        limits = self.limits()
        max_count, max_bytes = limits["max_cached_assets"], limits["max_cached_bytes"]
        chosen = []
        with self._lock:
            count, total = len(self._assets), sum(a["bytes"] for a in self._assets.values())
            for key, record in self._assets.items():
                if (max_count is None or count <= max_count) and (max_bytes is None or total <= max_bytes):
                    break
                if not (record["pinned"] or key == keep):
                    chosen.append({"key": key, **record})
                    count, total = count - 1, total - record["bytes"]
            for record in [] if dry_run else chosen:
                del self._assets[record["key"]]
        if chosen and not dry_run:
            for record in chosen if release_cache else ():
                record["cache_released"] = bool(record["cache_path"]) and self._release(record["cache_path"])
            self.state()
            log.info("Perf budget evicted assets", extra={"count": len(chosen), "keys": [r["key"] for r in chosen]})
        return chosen

    def cache(self) -> Any:
        """The dedup cache (comfyvn.cache.CacheManager at its default root unless injected)."""
        if self._cache is None:
            from comfyvn.cache.cache_manager import CacheManager

            self._cache = (self._cache_factory or CacheManager)()
        return self._cache

    def _release(self, path: str) -> bool:
        try:
            entry = self.cache().get(path)
            return bool(entry and not entry.pinned and self.cache().release(path) >= 0)
        except (NotFound, InvalidInput) as exc:
            log.warning("Could not release an evicted asset from the dedup cache", extra={"path": path, "error": str(exc)})
            return False

    def _require_asset(self, key: str) -> dict[str, Any]:
        if key not in self._assets:
            raise NotFound(f"asset '{key}' is not in the perf working set; register it first", details={"key": key})
        return self._assets[key]

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, jobs: Any, bus: Any = None) -> None:
        """Become ``jobs``' admission check; re-evaluate on every job submit, start and finish."""
        self.detach()
        self._jobs = jobs
        jobs.set_admission(self.admit)
        if bus is not None:
            for event in ("on_job_submitted", "on_job_started", "on_job_finished"):
                self._unsubscribe.append(bus.subscribe(event, lambda _envelope: self.refresh()))

    def detach(self) -> None:
        if self._jobs is not None:
            self._jobs.set_admission(None)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def refresh(self) -> None:
        """Re-evaluate while budgets are on (called on job events)."""
        if self.enabled():
            self.state()


_default: BudgetManager | None = None
_default_lock = threading.Lock()


def default() -> BudgetManager:
    """The process-wide budget manager, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BudgetManager()
        return _default


def install(services: Any) -> BudgetManager:
    """Replace the process-wide manager with one bound to a server's services (start-up)."""
    global _default
    uninstall()
    manager = BudgetManager(settings=services.settings, emit=services.bus.emit)
    manager.attach(services.jobs, services.bus)
    with _default_lock:
        _default = manager
    return manager


def uninstall() -> None:
    """Detach and forget the process-wide manager (shutdown, tests)."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        old.detach()


def state() -> dict[str, Any]:
    return default().state()
