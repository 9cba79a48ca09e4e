"""Crash safety: a process registering, updating and deleting assets is killed with SIGKILL at
random moments; every sidecar stays parseable and the reopened index equals a rebuild."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfyvn.assets import paths, previews
from comfyvn.assets.registry import registry, reset

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

WORKER = r"""
import random, sys
sys.path.insert(0, sys.argv[1])
from comfyvn.assets.registry import registry
from tests.assets.conftest import png, wav

rng = random.Random(int(sys.argv[2]))
reg = registry().open()
n = int(sys.argv[2]) * 100000
print("ready", flush=True)
while True:
    n += 1
    items = reg.query(limit=50)["items"]
    op = rng.random()
    if op < 0.4 or not items:
        data = png(n % 60000, size=(rng.randint(8, 300), rng.randint(8, 300))) if n % 3 else wav(n % 500)
        reg.add_bytes(data, name=f"a{n}.png", tags=[rng.choice("abc")], meta={"n": str(n)},
                      provenance={"seed": n} if n % 5 == 0 else None)
    elif op < 0.5:
        target = reg.root / "reg" / f"r{n}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png(n % 60000 + 1, size=(9, 9)))
        reg.register(f"reg/r{n}.png")
    elif op < 0.75:
        reg.update(rng.choice(items)["uid"], add_tags=[rng.choice("xyz")], meta={"n": str(n), "k": None})
    elif op < 0.85:
        reg.update_many([i["uid"] for i in items[:5]], remove_tags=["x"], license=rng.choice([None, "CC0"]))
    else:
        reg.remove(rng.choice(items)["uid"], keep_file=rng.random() < 0.3)
"""


def run_and_kill(seed: int, rng: random.Random) -> None:
    child = subprocess.Popen([sys.executable, "-c", WORKER, str(REPO), str(seed)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0.05, 0.6))
        assert child.poll() is None, child.stderr.read()  # still working, not crashed on its own
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()
        child.stderr.close()


def check_files(root: Path) -> int:
    sidecars = list(root.rglob("*" + paths.SIDECAR_SUFFIX))
    for path in sidecars:
        data = json.loads(path.read_bytes())
        assert data["path"] == str(path.relative_to(root))[:-len(paths.SIDECAR_SUFFIX)], path
        assert (root / data["path"]).is_file(), f"{path}: the sidecar's file is missing"
    return len(sidecars)


@pytest.mark.slow
def test_kill_at_random_moments(runtime_root, monkeypatch):
    monkeypatch.setattr(previews, "enabled", lambda: False)  # the children make previews, not this process
    registry().open()  # the default project exists before the children start
    reset()
    rng = random.Random(20260101)
    total = 0
    for round_number in range(1, 9):
        run_and_kill(round_number, rng)
        reset()
        reg = registry()
        count = check_files(reg.root)
        reg.open()  # repairs what the kill left pending
        assert reg.index.pending() == []
        live = reg.index.snapshot()
        reg.rebuild_index()
        assert reg.index.snapshot() == live, f"round {round_number}: index differs from its rebuild"
        assert reg.index.count() == count
        total += count
        reset()
    assert total > 0
