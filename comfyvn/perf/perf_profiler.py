"""The perf profiler: named timings kept in a bounded ring buffer and aggregated on demand.

``span(name)`` times a block, ``mark(name, duration_ms)`` records a duration measured elsewhere
(``mark(name)`` without one counts an instant event), ``snapshot()`` gives per-name count, p50, p95
and max over the samples still in the buffer. Recording is cheap and always on; the HTTP dashboard
is behind the ``enable_perf_profiler_dashboard`` flag. Module-level functions use one
process-wide profiler::

    from comfyvn.perf import perf_profiler

    with perf_profiler.span("render.background"):
        ...
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from comfyvn.core.errors import InvalidInput

DEFAULT_CAPACITY = 10_000
MAX_NAME_LENGTH = 200


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"profiler names are 1-{MAX_NAME_LENGTH} characters, e.g. 'render.sprite'; got {name!r}",
                           details={"field": "name"})
    return name.strip()


class Profiler:
    """Keeps the last ``capacity`` samples ``(name, duration_ms or None, unix time)``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], float] = time.perf_counter,
                 wall: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise InvalidInput("profiler capacity must be at least 1")
        self.capacity = capacity
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._samples: deque[tuple[str, float | None, float]] = deque(maxlen=capacity)
        self._recorded = 0

    def mark(self, name: str, duration_ms: float | None = None) -> dict[str, Any]:
        """Record one sample: a duration in milliseconds, or (None) an instant event."""
        name = _check_name(name)
        if duration_ms is not None:
            if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float)) \
                    or not math.isfinite(duration_ms) or duration_ms < 0:
                raise InvalidInput(f"duration_ms must be a number of 0 or more, got {duration_ms!r}",
                                   details={"field": "duration_ms"})
            duration_ms = float(duration_ms)
        sample = (name, duration_ms, self._wall())
        with self._lock:
            self._samples.append(sample)
            self._recorded += 1
        return {"name": name, "duration_ms": duration_ms, "at": sample[2]}

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        """Time the block (also when it raises) and record it under ``name``."""
        name = _check_name(name)
        start = self._clock()
        try:
            yield
        finally:
            self.mark(name, max(0.0, (self._clock() - start) * 1000.0))

    def timed(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`span`."""

        def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def inner(*args: Any, **kwargs: Any) -> Any:
                with self.span(name):
                    return func(*args, **kwargs)

            return inner

        return wrap

    def snapshot(self) -> dict[str, Any]:
        """Stats per name (sorted): ``count`` (samples, instants included), ``timed`` (samples with
        a duration), ``p50_ms``, ``p95_ms``, ``max_ms``, ``mean_ms``, ``total_ms`` (None when
        nothing was timed), ``last_at``; plus buffer totals."""
        with self._lock:
            samples = list(self._samples)
            recorded = self._recorded
        grouped: dict[str, list[tuple[float | None, float]]] = {}
        for name, duration, at in samples:
            grouped.setdefault(name, []).append((duration, at))
        stats = {}
        for name in sorted(grouped):
            rows = grouped[name]
            durations = sorted(d for d, _ in rows if d is not None)
            total = sum(durations)
            stats[name] = {
                "count": len(rows), "timed": len(durations),
                "p50_ms": round(_percentile(durations, 0.5), 3) if durations else None,
                "p95_ms": round(_percentile(durations, 0.95), 3) if durations else None,
                "max_ms": round(durations[-1], 3) if durations else None,
                "mean_ms": round(total / len(durations), 3) if durations else None,
                "total_ms": round(total, 3) if durations else None,
                "last_at": max(at for _, at in rows),
            }
        return {"taken_at": self._wall(), "capacity": self.capacity, "samples": len(samples),
                "dropped": recorded - len(samples), "stats": stats}

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._recorded = 0


_default: Profiler | None = None
_default_lock = threading.Lock()


def profiler() -> Profiler:
    """The process-wide profiler, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Profiler()
        return _default


def mark(name: str, duration_ms: float | None = None) -> dict[str, Any]:
    return profiler().mark(name, duration_ms)


def span(name: str) -> Any:
    return profiler().span(name)


def timed(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return profiler().timed(name)


def snapshot() -> dict[str, Any]:
    return profiler().snapshot()


def reset() -> None:
    profiler().reset()


def dashboard(top: int = 10) -> dict[str, Any]:
    """The snapshot plus ``top``: the names with the most total time, slowest first."""
    snap = snapshot()
    timed_names = [(s["total_ms"], name) for name, s in snap["stats"].items() if s["total_ms"] is not None]
    return {**snap, "top": [name for _, name in sorted(timed_names, key=lambda t: (-t[0], t[1]))[:top]]}
