"""The benchmark scripts still run and print their JSON (tiny sizes; the figures come from full
runs, never from tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("bench_scheduler.py", ["--jobs", "200", "--devices", "2"], "goal_met"),
    ("bench_builtin_render.py", ["--repeat", "1"], "goal_met"),
    ("bench_assets.py", ["--assets", "300", "--register", "40"], "goal_met"),
    ("bench_bridge.py", ["--runs", "2"], "added_median_ms"),
    ("bench_export.py", ["--nodes", "30"], "export_seconds"),
    ("bench_hook_fanout.py", ["--subscribers", "3", "--rate", "50", "--seconds", "1"], "goal_met"),
]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("script, args, key", CASES, ids=[c[0] for c in CASES])
def test_benchmark_script_prints_its_figures(script, args, key, server_env):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, timeout=540, env=server_env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert key in result
