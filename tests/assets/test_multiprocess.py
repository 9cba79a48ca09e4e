"""Several processes registering the same content at the same moment make one asset."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from comfyvn.assets import paths
from comfyvn.assets.registry import registry
from tests.assets.conftest import png

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from comfyvn.assets.registry import registry
    data = Path(sys.argv[1]).read_bytes()
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    sidecar, created = registry("default").add_bytes(data, name="same.png")
    print(sidecar["uid"], created)
""")


@pytest.mark.slow
def test_processes_uploading_the_same_content_make_one_asset(tmp_path, server_env):
    import time

    registry().open()  # the project exists before the race
    source = tmp_path / "same.png"
    source.write_bytes(png(77))
    start = str(time.time() + 3)
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(source), start], env=server_env,
                                 stdout=subprocess.PIPE, text=True) for _ in range(4)]
    answers = [child.communicate(timeout=60)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    assert len({uid for uid, _ in answers}) == 1
    assert sorted(created for _, created in answers) == ["False", "False", "False", "True"]
    root = registry().root
    assert len([p for p in root.rglob("*") if p.is_file() and paths.PREVIEWS not in p.parts
                and not p.name.endswith(paths.SIDECAR_SUFFIX)]) == 1
    assert registry().query()["total"] == 1
