"""POV builds in the Ren'Py export: the analysis, the master game's Switch POV menu, one game per
POV under forks/<slug>/ (worldline versions included), through the service, the CLI and the API,
and (with Ren'Py) lint and parity playthroughs of every fork."""

from __future__ import annotations

import copy
import json

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.export import exporter, pov_builds
from comfyvn.export.service import export_renpy
from comfyvn.pov import manager
from comfyvn.projects import store
from comfyvn.scenario.models import parse_scene
from tests.conftest import assert_envelope

SPLIT = {
    "id": "split", "title": "Two sides", "start": "door", "pov": "alice",
    "variables": {"trust": 0},
    "cast": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    "nodes": [
        {"id": "door", "speaker": "alice", "text": "Someone is at the door.", "choices": [
            {"id": "open", "label": "Open it", "target": "hall", "visible_to": ["alice"],
             "actions": [{"type": "increment", "key": "trust"}]},
            {"id": "peek", "label": "Peek through the window", "target": "yard", "visible_to": ["bob"]},
            {"id": "wait", "label": "Wait", "target": "fate"}]},
        {"id": "hall", "pov": "alice", "speaker": "alice", "text": "It was Bob all along.", "next": "fate"},
        {"id": "yard", "pov": "bob", "speaker": "bob", "text": "I see her shadow.", "end": True},
        {"id": "fate", "type": "random", "text": "The wind turns.", "choices": [
            {"id": "calm", "target": "calm_end", "weight": 3}, {"id": "storm", "target": "storm_end", "weight": 1}]},
        {"id": "calm_end", "type": "end", "text": "A calm night."},
        {"id": "storm_end", "type": "end", "text": "A storm."},
    ],
}
AFTER = {
    "id": "after", "title": "Morning", "start": "wake", "pov": "bob",
    "cast": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    "nodes": [
        {"id": "wake", "speaker": "bob", "text": "Morning.", "choices": [
            {"id": "tea", "label": "Make tea", "target": "done", "visible_to": ["bob"]},
            {"id": "trust", "label": "Trust her", "target": "done",
             "conditions": [{"key": "trust", "operator": "gte", "value": 1}]},
            {"id": "leave", "label": "Leave", "target": "done"}]},
        {"id": "done", "type": "end", "text": "The end."},
    ],
}


def setup_project(*, worldline: bool = True) -> None:
    store.require_project("default")
    store.collection("scene").create("default", copy.deepcopy(SPLIT))
    store.collection("scene").create("default", copy.deepcopy(AFTER))
    store.collection("timeline").create("default", {"id": "main", "scenes": ["split", "after"]})
    if worldline:
        record = manager.fork("default", node="yard", scene_id="split", pov="bob", name="Bob's night")
        manager.update("default", record["id"], nodes=[
            {"id": "yard", "pov": "bob", "speaker": "bob", "text": "I follow her instead.", "end": True}])


def test_analysis_finds_the_povs_that_matter_and_resolves_auto():
    scenes = [parse_scene(SPLIT), parse_scene(AFTER)]
    plan = pov_builds.analyse(scenes, [], mode="auto")
    assert plan.mode == "both" and [(p.id, p.name, p.slug) for p in plan.povs] == [("alice", "Alice", "alice"),
                                                                                  ("bob", "Bob", "bob")]
    lone = dict(SPLIT, id="lone", pov=None, nodes=[{"id": "door", "speaker": "alice", "text": "Hi.", "end": True}])
    assert pov_builds.analyse([parse_scene(lone)], [], mode="auto").mode == "disabled"  # speakers alone: no POVs
    with pytest.raises(InvalidInput, match="needs points of view"):
        pov_builds.analyse([parse_scene(lone)], [], mode="master")
    with pytest.raises(InvalidInput, match="unknown POV mode 'sideways'"):
        pov_builds.analyse(scenes, [], mode="sideways")


def test_master_build_has_the_switch_menu_and_forks_play_from_one_pov(tmp_path):
    setup_project()
    result = export_renpy("default", out=tmp_path / "g", lint=False, name="Night")
    out = tmp_path / "g"
    manifest = json.loads((out / "export_manifest.json").read_text())
    assert manifest["pov"]["mode"] == "both" and manifest["pov"]["switch"] is True
    assert [p["id"] for p in manifest["pov"]["povs"]] == ["alice", "bob"]
    assert manifest["pov"]["povs"][1]["worldline_scenes"] == ["split"]
    menu = (out / "game" / "cvn_pov.rpy").read_text()
    assert '("alice", _("Alice")), ("bob", _("Bob"))' in menu and 'config.overlay_screens.append("cvn_pov_button")' in menu
    assert "default cvn_pov_pick = None" in (out / "game" / "cvn_defs.rpy").read_text()
    entry = (out / "game" / "scenes" / "split.rpy").read_text()
    assert '$ cvn_pov = cvn_pov_pick if cvn_pov_pick is not None else "alice"' in entry
    for pov in ("alice", "bob"):
        fork = out / "forks" / pov
        assert f'default cvn_pov_pick = "{pov}"' in (fork / "game" / "cvn_defs.rpy").read_text()
        assert not (fork / "game" / "cvn_pov.rpy").exists()  # a fork is told from one POV only
        assert json.loads((fork / "export_manifest.json").read_text())["pov_pick"] == pov
    assert "I follow her instead." in (out / "forks" / "bob" / "game" / "scenes" / "split.rpy").read_text()
    assert "I see her shadow." in (out / "forks" / "alice" / "game" / "scenes" / "split.rpy").read_text()
    assert "I see her shadow." in entry  # the master plays the project's scenes
    assert 'config.name = "Night (Bob)"' in (out / "forks" / "bob" / "game" / "options.rpy").read_text()
    assert "forks/bob/game/script.rpy" in manifest["files"] and result["changes"]["added"] == len(manifest["files"])


def test_modes_and_no_switch(tmp_path):
    setup_project(worldline=False)
    scenes = exporter.load_scenes("default")
    options = exporter.Options(name="Night")

    def files(mode: str, switch: bool = True) -> set[str]:
        return set(exporter.build(scenes, options, povs=pov_builds.analyse(scenes, [], mode=mode, switch=switch)).files)

    both, master, forks, disabled = files("both"), files("master"), files("forks"), files("disabled")
    assert "game/cvn_pov.rpy" in both and "game/cvn_pov.rpy" in master and "game/cvn_pov.rpy" not in forks
    assert not any(p.startswith("forks/") for p in master | disabled)
    assert "forks/alice/game/script.rpy" in forks and "game/cvn_pov.rpy" not in disabled
    assert "game/cvn_pov.rpy" not in files("both", switch=False)
    assert disabled == set(exporter.build(scenes, options).files)  # disabled = one plain game


def test_reexport_without_forks_removes_them(tmp_path):
    setup_project(worldline=False)
    out = tmp_path / "g"
    export_renpy("default", out=out, lint=False)
    assert (out / "forks" / "alice" / "game" / "script.rpy").is_file()
    again = export_renpy("default", out=out, lint=False, pov_mode="disabled")
    assert not (out / "forks" / "alice" / "game" / "script.rpy").exists() and again["changes"]["removed"] > 0
    assert "pov" not in json.loads((out / "export_manifest.json").read_text())


def test_cli_and_api_take_the_pov_options(client, tmp_path, server_env):
    from typer.testing import CliRunner

    from comfyvn.cli import app

    setup_project(worldline=False)
    bad = CliRunner().invoke(app, ["export", "renpy", "--out", str(tmp_path / "x"), "--pov-mode", "sideways",
                                   "--no-lint"])
    assert bad.exit_code == 2 and "unknown POV mode 'sideways'" in bad.output
    assert not (tmp_path / "x").exists()
    done = CliRunner().invoke(app, ["export", "renpy", "--out", str(tmp_path / "c"), "--pov-mode", "master",
                                    "--no-pov-switch", "--no-lint", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["manifest"]["pov"] == {"mode": "master", "switch": False, "povs": [
        {"id": "alice", "name": "Alice", "fork": None, "worldline_scenes": []},
        {"id": "bob", "name": "Bob", "fork": None, "worldline_scenes": []}]}
    preview = client.get("/api/export/renpy/preview", params={"out": str(tmp_path / "p"), "pov_mode": "forks"})
    assert preview.status_code == 200 and "forks/bob/game/script.rpy" in preview.json()["diff"]["added"]
    refused = client.post("/api/export/renpy", json={"out": str(tmp_path / "q"), "pov_mode": "sideways"})
    assert_envelope(refused, 422)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_master_and_forks_lint_clean_and_play_like_the_runner(tmp_path, renpy):
    setup_project()
    result = export_renpy("default", out=tmp_path / "g", lint=True, with_tests=True, seed=5)
    assert result["lint"]["ok"], result["lint"]["errors"]
    assert result["tests"] and all(t["ok"] for t in result["tests"]), result["tests"]
    assert set(result["forks"]) == {"alice", "bob"}
    for pov, fork in result["forks"].items():
        assert fork["ok"], (pov, fork["errors"])
        assert fork["tests"] and all(t["ok"] for t in fork["tests"]), (pov, fork["tests"])
    bob_tests = (tmp_path / "g" / "forks" / "bob" / "game" / "cvn_tests.rpy").read_text()
    assert 'click until "Peek through the window"' in bob_tests and "Open it" not in bob_tests  # visible_to
    alice_tests = (tmp_path / "g" / "forks" / "alice" / "game" / "cvn_tests.rpy").read_text()
    assert "Peek through the window" not in alice_tests and "label split__yard" not in alice_tests
    assert 'run Start("after")' in bob_tests  # the second scene is played too
