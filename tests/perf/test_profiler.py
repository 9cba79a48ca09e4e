"""The perf profiler: spans, marks, the ring buffer and the aggregated snapshot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyvn.core.errors import InvalidInput
from comfyvn.perf import perf_profiler
from comfyvn.perf.perf_profiler import Profiler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_span_records_the_block_duration_even_when_it_raises():
    clock = Clock()
    profiler = Profiler(clock=clock)
    with profiler.span("render.bg"):
        clock.now += 0.25
    with pytest.raises(RuntimeError), profiler.span("render.bg"):
        clock.now += 0.75
        raise RuntimeError("boom")
    stats = profiler.snapshot()["stats"]["render.bg"]
    assert stats["count"] == 2 and stats["timed"] == 2
    assert stats["max_ms"] == 750.0 and stats["total_ms"] == 1000.0 and stats["mean_ms"] == 500.0


def test_snapshot_has_nearest_rank_percentiles_per_name():
    profiler = Profiler()
    for value in range(100, 0, -1):  # 100..1, out of order
        profiler.mark("a", value)
    profiler.mark("b", 7)
    snap = profiler.snapshot()
    assert list(snap["stats"]) == ["a", "b"]
    a = snap["stats"]["a"]
    assert (a["count"], a["p50_ms"], a["p95_ms"], a["max_ms"]) == (100, 50.0, 95.0, 100.0)
    assert snap["stats"]["b"]["p50_ms"] == snap["stats"]["b"]["p95_ms"] == 7.0
    assert snap["samples"] == 101 and snap["dropped"] == 0


def test_instant_marks_are_counted_but_not_timed():
    profiler = Profiler()
    profiler.mark("cache.miss")
    profiler.mark("cache.miss")
    stats = profiler.snapshot()["stats"]["cache.miss"]
    assert stats["count"] == 2 and stats["timed"] == 0
    assert stats["p50_ms"] is None and stats["max_ms"] is None


def test_ring_buffer_keeps_only_the_newest_samples():
    profiler = Profiler(capacity=3)
    for value in (1000, 1, 2, 3):
        profiler.mark("x", value)
    snap = profiler.snapshot()
    assert snap["samples"] == 3 and snap["dropped"] == 1 and snap["capacity"] == 3
    assert snap["stats"]["x"]["max_ms"] == 3.0  # the 1000 ms sample was pushed out
    profiler.reset()
    assert profiler.snapshot()["stats"] == {} and profiler.snapshot()["dropped"] == 0


@pytest.mark.parametrize("name,duration", [("", 1), ("  ", 1), ("x" * 201, 1), ("ok", -1),
                                           ("ok", float("nan")), ("ok", True), ("ok", "3")])
def test_bad_names_and_durations_are_refused(name, duration):
    with pytest.raises(InvalidInput):
        Profiler().mark(name, duration)


def test_timed_decorator_and_module_level_profiler():
    @perf_profiler.timed("work")
    def work(x):
        return x * 2

    assert work(3) == 6
    with perf_profiler.span("outer"):
        perf_profiler.mark("inner", 2.0)
    stats = perf_profiler.snapshot()["stats"]
    assert set(stats) == {"work", "outer", "inner"} and stats["inner"]["max_ms"] == 2.0
    board = perf_profiler.dashboard(top=1)
    assert len(board["top"]) == 1 and board["top"][0] in stats


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_come_from_the_samples(values):
    profiler = Profiler(capacity=500)
    for value in values:
        profiler.mark("p", value)
    stats = profiler.snapshot()["stats"]["p"]
    assert stats["count"] == len(values)
    assert stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]
    assert stats["max_ms"] == round(max(values), 3)
    assert stats["p50_ms"] in {round(v, 3) for v in values}
