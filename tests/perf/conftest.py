"""Fixtures for the perf tests: a fresh profiler, and the budget manager removed after each test."""

from __future__ import annotations

import pytest

from comfyvn.perf import budget_manager, perf_profiler


@pytest.fixture(autouse=True)
def perf_state():
    perf_profiler.reset()
    yield
    budget_manager.uninstall()
    perf_profiler.reset()
