"""The process's scheduler: one per process, built from the provider registry and re-synced
whenever ``config/compute_providers.json`` changes. The HTTP routes and the server's own render
jobs share it, so ``/api/schedule/board`` shows every render."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from comfyvn.compute.providers import Device, ProviderRegistry
from comfyvn.compute.scheduler import Scheduler
from comfyvn.core.errors import Conflict, NotFound, Unavailable

_lock = threading.Lock()
_scheduler: Scheduler | None = None
_stamp: Any = None
_path: Any = None
WAIT_STEP = 0.05
RECHECK_SECONDS = 30.0
PROBE_WHILE_WAITING = 2.0  # while a render waits for a device, down ones are probed this often  # a device marked down is probed again (GET /system_stats) after this long


def scheduler(*, resync: bool = False) -> Scheduler:
    global _scheduler, _stamp, _path
    with _lock:
        registry = ProviderRegistry()
        stamp = registry.stamp()
        if _scheduler is None or _path != registry.path:  # first use, or another runtime root (tests)
            _scheduler, _path = Scheduler(registry.devices()), registry.path
        elif resync or stamp != _stamp:
            _scheduler.sync(registry.devices())
        _stamp = stamp
        return _scheduler


def reset() -> None:
    global _scheduler, _stamp, _path
    with _lock:
        _scheduler = _stamp = _path = None


@contextmanager
def device_for(kind: str, payload: dict[str, Any], *, affinity: str | None = None,
               cancelled: Callable[[], bool] = lambda: False, timeout: float = 3600.0
               ) -> Iterator[tuple[Device, dict[str, Any]]]:
    """Run the block on a ComfyUI device chosen by the scheduler, waiting while all are busy:
    ``with device_for(...) as (device, metrics)``. The block fills ``metrics`` (``duration_sec``,
    ``bytes_tx``, ``bytes_rx``); the scheduler job is completed with them, or failed with the error."""
    shared = scheduler()
    recheck_down(shared)
    deadline = time.monotonic() + timeout
    last_probe = time.monotonic()
    while (job := shared.place({"kind": kind, "payload": payload, "affinity": affinity})) is None:
        if cancelled():
            raise Conflict("the render was cancelled while waiting for a free device", code="cancelled")
        if time.monotonic() - last_probe >= PROBE_WHILE_WAITING:  # a server that came back takes work again
            recheck_down(shared, older_than=PROBE_WHILE_WAITING)
            last_probe = time.monotonic()
        if not any(row["status"] != "down" for row in shared.state()["devices"] if row["kind"] == "comfyui"):
            raise Unavailable("no ComfyUI device is reachable: check the servers in /api/providers (POST "
                              "/api/providers/{id}/check) or render with provider 'builtin'", code="devices_down")
        if time.monotonic() > deadline:
            raise Conflict("every ComfyUI device stayed busy; try again later", code="devices_busy")
        time.sleep(WAIT_STEP)
    device = shared.device(job["assigned"])
    metrics: dict[str, Any] = {}
    try:
        yield device, metrics
    except BaseException as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        _quietly(lambda: shared.fail(job["id"], error))
        raise
    _quietly(lambda: shared.complete(job["id"], metrics))


def recheck_down(shared: Scheduler, *, older_than: float = RECHECK_SECONDS) -> None:
    """Probe the ComfyUI devices marked down longer than ``older_than`` seconds ago, so a server
    that came back takes work again without anyone clicking "check"."""
    from comfyvn.compute.providers import check

    now = shared.clock()
    for row in shared.state()["devices"]:
        if row["kind"] != "comfyui" or row["status"] != "down" or now - (row["last_check"] or 0) < older_than:
            continue
        try:
            provider = ProviderRegistry().get(row["device"])
        except NotFound:  # removed meanwhile
            continue
        result = check(provider)
        _quietly(lambda row=row, result=result: shared.health(row["device"], result["status"], result["error"]))


def _quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except (Conflict, NotFound):  # the device went or the job was ended by its going: nothing left to record
        pass
