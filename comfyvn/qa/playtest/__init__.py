"""The playtest harness: headless runs recorded as canonical traces, golden comparisons and
bounded coverage of every choice path. See docs/playtest.md.

Public names (stable): ``run_playtest``, ``persist``, ``compare_traces``, ``check_golden``,
``replay``, ``load_trace``, ``explore_coverage``, ``canonical_bytes``, ``trace_digest``,
``scene_digest``.
"""

from __future__ import annotations

from comfyvn.qa.playtest.coverage import explore as explore_coverage
from comfyvn.qa.playtest.golden import (
    TraceComparison,
    check_golden,
    compare_traces,
    load_trace,
    replay,
)
from comfyvn.qa.playtest.harness import (
    PlaytestResult,
    canonical_bytes,
    persist,
    render_log,
    scene_digest,
    trace_digest,
)
from comfyvn.qa.playtest.harness import run as run_playtest

__all__ = [
    "PlaytestResult",
    "TraceComparison",
    "canonical_bytes",
    "check_golden",
    "compare_traces",
    "explore_coverage",
    "load_trace",
    "persist",
    "render_log",
    "replay",
    "run_playtest",
    "scene_digest",
    "trace_digest",
]
