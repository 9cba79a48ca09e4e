"""Export smoke tests on the read-only reference sample in renpy_project/: the committed game equals
a fresh export of its source, Ren'Py lints it clean and plays its playthroughs (on a sandboxed
copy: the sample itself is never written), and the update script reports drift."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from comfyvn.export import renpy_tool, sample

ROOT = sample.ROOT


def snapshot() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(ROOT.rglob("*")) if p.is_file()}


def test_the_committed_sample_equals_a_fresh_export():
    drift = sample.check()
    assert drift == {"added": [], "changed": [], "removed": []}, (
        f"renpy_project/ is out of date ({drift}): if the exporter change is intended, run "
        "python scripts/update_renpy_sample.py and commit renpy_project/")
    manifest = json.loads((ROOT / "export_manifest.json").read_text())
    assert [s["id"] for s in manifest["scenes"]] == ["arrival", "closing"]  # the timeline's order
    assert manifest["translations"]["french"]["lines"]["missing"] == 0
    assert len(manifest["testcases"]) >= 3


def test_the_update_script_reports_drift(tmp_path):
    import shutil

    copy = tmp_path / "renpy_project"
    shutil.copytree(ROOT, copy)
    assert sample.check(copy) == {"added": [], "changed": [], "removed": []}
    (copy / "game" / "script.rpy").write_text("label start:\n    return\n")
    (copy / "game" / "scenes" / "closing.rpy").unlink()
    drift = sample.check(copy)
    assert drift["changed"] == ["game/script.rpy"] and drift["added"] == ["game/scenes/closing.rpy"]
    sample.update(copy)
    assert sample.check(copy) == {"added": [], "changed": [], "removed": []}
    done = subprocess.run([sys.executable, "scripts/update_renpy_sample.py", "--check"], cwd=ROOT.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "up to date" in done.stdout, done.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_renpy_lints_and_plays_the_sample_without_writing_to_it(renpy):
    before = snapshot()
    report = renpy_tool.lint(ROOT, renpy=renpy)
    assert report.ok, report.errors
    for name in json.loads((ROOT / "export_manifest.json").read_text())["testcases"]:
        played = renpy_tool.run_test(ROOT, name, renpy=renpy, timeout=180)
        assert played.ok, (name, played.errors)
    assert snapshot() == before  # read-only: Ren'Py ran on sandboxed copies
