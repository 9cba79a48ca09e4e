"""``python -m comfyvn.qa.playtest``: run, golden check/update, persist, coverage, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from comfyvn.config import runtime_paths
from comfyvn.qa.playtest.__main__ import main

HERE = Path(__file__).resolve().parent
SCENE = HERE / "scenes" / "branching.json"
GOLDEN = HERE / "golden" / "rainy_day-seed7.trace.json"


def cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def edited_scene(tmp_path: Path) -> Path:
    data = json.loads(SCENE.read_text())
    data["nodes"][5]["text"] = "See you never."
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def test_run_prints_the_digest(capsys):
    code, out, err = cli(capsys, "run", SCENE, "--seed", "7")
    assert (code, err) == (0, "")
    assert out["digest"] == json.loads(GOLDEN.read_text())["digest"] and out["reason"] == "end"
    assert "trace" not in out and "trace_path" not in out


def test_golden_check_takes_its_inputs_from_the_golden_file(capsys):
    code, out, _ = cli(capsys, "run", SCENE, "--golden", GOLDEN)
    assert code == 0 and out["golden"]["equal"] is True and out["seed"] == 7


def test_golden_mismatch_exits_1_with_the_first_divergence(capsys, tmp_path):
    code, out, err = cli(capsys, "run", edited_scene(tmp_path), "--golden", GOLDEN)
    assert code == 1 and out["golden"]["equal"] is False
    assert "golden mismatch" in err
    assert "step 4 (node 'good_end'): lines[0].text: expected \"Same time tomorrow?\", got \"See you never.\"" in err
    assert "--update-golden" in err


def test_update_golden_writes_a_file_that_then_matches(capsys, tmp_path):
    golden = tmp_path / "g.trace.json"
    code, out, _ = cli(capsys, "run", SCENE, "--seed", "3", "--choice", "c_walk", "--golden", golden,
                       "--update-golden")
    assert code == 0 and out["golden"] == {"path": str(golden), "updated": True}
    assert json.loads(golden.read_text())["trace"]["choices"] == ["c_walk"]
    code, out, _ = cli(capsys, "run", SCENE, "--golden", golden)
    assert code == 0 and out["golden"]["equal"] is True
    code, _, _ = cli(capsys, "run", SCENE, "--golden", golden, "--seed", "4")  # explicit options win
    assert code == 1


def test_persist_and_variables(capsys):
    code, out, _ = cli(capsys, "run", SCENE, "--seed", "7", "--var", "trust=5", "--var", "mood=grumpy",
                       "--choice", "c_secret", "--persist", "--trace")
    assert code == 0 and out["trace"]["variables"] == {"mood": "grumpy", "trust": 5}
    assert out["trace"]["final"]["node"] == "secret"
    folder = runtime_paths.log_dir() / "playtest"
    assert sorted(p.name for p in folder.iterdir()) == sorted([Path(out["trace_path"]).name,
                                                               Path(out["log_path"]).name])


def test_coverage_prints_the_report(capsys):
    code, out, _ = cli(capsys, "coverage", SCENE)
    assert code == 0 and out["unreachable"] == [{"node": "secret", "cause": "not_reached"}]


def test_errors_are_clear_and_exit_2(capsys, tmp_path):
    code, out, err = cli(capsys, "run", tmp_path / "missing.json")
    assert (code, out) == (2, None) and "missing.json' does not exist" in err
    (tmp_path / "bad.json").write_text("{oops")
    code, _, err = cli(capsys, "coverage", tmp_path / "bad.json")
    assert code == 2 and "is not valid JSON" in err
    (tmp_path / "invalid.json").write_text(json.dumps({"id": "x", "start": "a", "nodes": [{"id": "a", "next": "b"}]}))
    code, _, err = cli(capsys, "run", tmp_path / "invalid.json")
    assert code == 2 and "scene is not valid" in err and "/nodes/0/next" in err
    code, _, err = cli(capsys, "run", SCENE, "--golden", tmp_path / "none.json")
    assert code == 2 and "--update-golden" in err
    code, _, err = cli(capsys, "run", SCENE, "--update-golden")
    assert code == 2 and "needs --golden" in err
    code, _, err = cli(capsys, "run", SCENE, "--choice", "c_secret")
    assert code == 2 and "'c_secret' is not available" in err


def test_module_entry_point(tmp_path):
    scene = tmp_path / "scene.json"
    shutil.copy(SCENE, scene)
    done = subprocess.run([sys.executable, "-m", "comfyvn.qa.playtest", "run", str(scene), "--golden", str(GOLDEN)],
                          capture_output=True, text=True, env={**os.environ}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["golden"]["equal"] is True
    done = subprocess.run([sys.executable, "-m", "comfyvn.qa.playtest", "run", str(tmp_path / "nope.json")],
                          capture_output=True, text=True, env={**os.environ}, timeout=60, check=False)
    assert done.returncode == 2 and "does not exist" in done.stderr
