"""`comfyvn scenario validate|play`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from comfyvn.cli import app
from tests.support.scenes import sample_scene

cli = CliRunner()


def write(tmp_path, data, name="scene.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


def test_validate_ok_and_json(tmp_path):
    path = write(tmp_path, sample_scene())
    result = cli.invoke(app, ["scenario", "validate", path])
    assert result.exit_code == 0 and "valid (0 error(s)" in result.output
    result = cli.invoke(app, ["scenario", "validate", path, "--json"])
    assert json.loads(result.output) == {"valid": True, "errors": [], "warnings": []}


def test_validate_errors_and_strict_warnings(tmp_path):
    broken = sample_scene()
    broken["nodes"][0]["choices"][0]["target"] = "nowhere"
    result = cli.invoke(app, ["scenario", "validate", write(tmp_path, broken)])
    assert result.exit_code == 1 and "/nodes/0/choices/0/target" in result.output
    warned = sample_scene()
    warned["nodes"].append({"id": "orphan", "end": True})
    path = write(tmp_path, warned, "w.json")
    assert cli.invoke(app, ["scenario", "validate", path]).exit_code == 0
    assert cli.invoke(app, ["scenario", "validate", path, "--strict"]).exit_code == 1


def test_unreadable_input(tmp_path):
    assert cli.invoke(app, ["scenario", "validate", str(tmp_path / "missing.json")]).exit_code == 2
    result = cli.invoke(app, ["scenario", "play", write(tmp_path, "{not json")])
    assert result.exit_code == 2 and "not JSON" in result.output


def test_play_prints_the_story_and_is_deterministic(tmp_path):
    path = write(tmp_path, sample_scene())
    first = cli.invoke(app, ["scenario", "play", path, "--seed", "4", "-c", "kind"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("mira: Hello!\n-> kind (choice)\nFate decides.")
    assert first.output == cli.invoke(app, ["scenario", "play", path, "--seed", "4", "-c", "kind"]).output
    state = json.loads(cli.invoke(app, ["scenario", "play", path, "--seed", "word", "--json"]).output)
    assert state["seed"] == "word" and state["stopped"] == "finished"


def test_play_refuses_an_invalid_scene_or_choice(tmp_path):
    result = cli.invoke(app, ["scenario", "play", write(tmp_path, {"id": "x"})])
    assert result.exit_code == 1 and "/start" in result.output
    result = cli.invoke(app, ["scenario", "play", write(tmp_path, sample_scene()), "--pov", "mira", "-c", "secret"])
    assert result.exit_code == 1 and "not available" in result.output
