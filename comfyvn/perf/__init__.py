"""Perf budgets (queue caps, CPU/VRAM limits, lazy asset eviction) and the perf profiler.

``from comfyvn.perf import budget_manager, perf_profiler`` is the public import path.
"""

from comfyvn.perf import budget_manager, perf_profiler

__all__ = ["budget_manager", "perf_profiler"]
