"""Edges where an exported game could drift from the runner or from Ren'Py's rules: scenes that
share variable names, choice texts with Ren'Py's special characters, POVs named by display name,
and ids that collide with Ren'Py's own labels, images and Windows file names."""

from __future__ import annotations

import pytest

from comfyvn.export import exporter, pov_builds
from comfyvn.export.service import export_renpy
from comfyvn.projects import store
from comfyvn.scenario.models import parse_scene
from comfyvn.scenario.runner import ScenarioRunner

FIRST = {  # declares nothing: y is missing here, whatever other scenes declare
    "id": "first", "start": "ask", "nodes": [
        {"id": "ask", "text": "Is y there?", "choices": [
            {"id": "has", "label": "Has y", "target": "done", "conditions": [{"key": "y", "operator": "exists"}]},
            {"id": "noy", "label": "No y", "target": "done", "conditions": [{"key": "y", "operator": "not_exists"}]}]},
        {"id": "done", "type": "end", "text": "On."}]}
SECOND = {  # its own starting values, whatever the first scene did
    "id": "second", "start": "ask", "variables": {"x": 1, "y": 2}, "nodes": [
        {"id": "ask", "text": "Is x one?", "actions": [{"type": "increment", "key": "x"}], "choices": [
            {"id": "one", "label": "x is two", "target": "done", "conditions": [{"key": "x", "operator": "eq", "value": 2}]},
            {"id": "other", "label": "x is not two", "target": "done",
             "conditions": [{"key": "x", "operator": "neq", "value": 2}]}]},
        {"id": "done", "type": "end", "text": "Off."}]}
THIRD = {  # the same variable, another start value; and choice texts with Ren'Py's special characters
    "id": "third", "start": "shop", "variables": {"x": 5}, "nodes": [
        {"id": "shop", "text": "Deals.", "choices": [
            {"id": "pct", "label": "50% off", "target": "a"},
            {"id": "sq", "label": "[off]", "target": "b"},
            {"id": "br", "label": "{b}bold{/b} \"deal\"", "target": "c"}]},
        {"id": "a", "type": "end", "text": "Half."}, {"id": "b", "type": "end", "text": "Bracket."},
        {"id": "c", "type": "end", "text": "Brace."}]}
NAMED_POV = {  # the scene and the choice name the POV by display name, the fork by cast id
    "id": "named", "start": "door", "pov": "Mira",
    "cast": [{"id": "mira", "name": "Mira"}, {"id": "jon", "name": "Jon 100%"}],
    "nodes": [
        {"id": "door", "speaker": "mira", "text": "Knock knock.", "choices": [
            {"id": "mine", "label": "Only Mira sees this", "target": "end", "visible_to": ["Mira"]},
            {"id": "his", "label": "Only Jon sees this", "target": "end", "visible_to": ["jon"]}]},
        {"id": "end", "type": "end", "speaker": "jon", "text": "Who's there?"}]}
CLASHES = {  # ids Ren'Py or Windows already use
    "id": "before_main_menu", "start": "con",
    "cast": [{"id": "bg", "name": "Background Guy"}, {"id": "black", "name": "Black"}],
    "nodes": [{"id": "con", "speaker": "bg", "text": "Hi.", "next": "b"},
              {"id": "b", "type": "end", "speaker": "black", "text": "Bye."}]}


def add(*scenes: dict) -> None:
    store.require_project("default")
    for scene in scenes:
        store.collection("scene").create("default", scene)
    store.collection("timeline").create("default", {"id": "main", "scenes": [s["id"] for s in scenes]})


def test_each_scene_starts_as_the_runner_starts_it():
    add(FIRST, SECOND, THIRD)
    built = exporter.build(exporter.load_scenes("default"), exporter.Options(with_tests=True))
    second = built.files["game/scenes/second.rpy"].decode()
    assert '$ cvn_begin({"x": 1, "y": 2})' in second
    assert '$ cvn_begin({"x": 5})' in built.files["game/scenes/third.rpy"].decode()
    defs = built.files["game/cvn_defs.rpy"].decode()
    assert 'define cvn_names = ["x", "y"]' in defs and "define cvn_seed = " in defs
    tests = built.files["game/cvn_tests.rpy"].decode()
    assert 'click until "No y"' in tests and "Has y" not in tests  # the runner: y is missing in scene one
    assert 'click until "x is two"' in tests and "x is not two" not in tests
    assert 'click until "50% off"' in tests and 'click until "[off]"' in tests  # the text as shown
    assert 'click until "{b}bold{/b} \\"deal\\""' in tests


def test_a_pov_named_by_display_name_is_the_same_pov():
    scene = parse_scene(NAMED_POV)
    runner = ScenarioRunner(scene)
    for pov in ("mira", "Mira", None):  # None: the scene's own POV, "Mira"
        offered = [c.id for c in runner.choices(runner.start(pov=pov))]
        assert offered == ["mine"], pov
    assert [c.id for c in runner.choices(runner.start(pov="Jon 100%"))] == ["his"]
    plan = pov_builds.analyse([scene], [], mode="forks")
    built = exporter.build([scene], exporter.Options(with_tests=True), povs=plan)
    assert 'click until "Only Mira sees this"' in built.files["forks/mira/game/cvn_tests.rpy"].decode()
    assert 'click until "Only Jon sees this"' in built.files["forks/jon/game/cvn_tests.rpy"].decode()
    assert "('Mira', 'mira')" in built.files["game/scenes/named.rpy"].decode()  # both names in visible_to
    defs = built.files["game/cvn_defs.rpy"].decode()
    assert 'Character(_("Jon 100%"), image="jon")' in defs  # % is not special in names


def test_ids_that_clash_with_renpy_or_windows_names_are_renamed():
    scene = parse_scene(CLASHES)
    built = exporter.build([scene], exporter.Options())
    script = built.files["game/scenes/before_main_menu_2.rpy"].decode()
    assert "label before_main_menu:" not in script and "label before_main_menu_2:" in script
    assert "label before_main_menu__con:" in script
    assert "show bg_2 neutral" in script or "bg_2" in built.files["game/cvn_defs.rpy"].decode()
    defs = built.files["game/cvn_defs.rpy"].decode()
    assert "layeredimage bg:" not in defs and "layeredimage black:" not in defs
    assert not any(path.endswith(("/con.rpy", "/CON.rpy")) for path in built.files)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_edge_scenes_lint_clean_and_play_like_the_runner(tmp_path, renpy):
    add(FIRST, SECOND, THIRD, NAMED_POV, CLASHES)
    result = export_renpy("default", out=tmp_path / "g", lint=True, with_tests=True)
    assert result["lint"]["ok"], result["lint"]["errors"]
    assert len(result["tests"]) >= 6 and all(t["ok"] for t in result["tests"]), result["tests"]
    for pov, fork in result["forks"].items():
        assert fork["ok"] and all(t["ok"] for t in fork["tests"]), (pov, fork)
