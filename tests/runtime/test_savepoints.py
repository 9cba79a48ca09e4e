"""The savepoint module without HTTP: slot names, the file format, damaged files, crash safety,
resuming."""

from __future__ import annotations

import json
import os

import pytest

from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.runtime import savepoints
from comfyvn.scenario.models import parse_scene
from comfyvn.scenario.runner import ScenarioRunner
from tests.runtime.scenes import branchy

MINIMAL = {"vars": {"trust": 1}, "node_pointer": "order", "seed": 7}


# -- slot names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "slot"), [("slot1", "slot1"), ("Auto-Save_2.b", "auto-save_2.b"),
                                             ("9", "9"), ("x" * 64, "x" * 64), ("console", "console")])
def test_usable_slot_names(given, slot):
    assert savepoints.check_slot(given) == slot
    assert savepoints.slot_path(given) == savepoints.saves_dir() / f"{slot}.json"


@pytest.mark.parametrize(("given", "reason"), [
    ("", "empty"), ("x" * 65, "65 characters"), ("a/b", "'/'"), ("../x", "'/'"), ("a\\b", "'\\'"),
    ("..", "'..'"), ("a..b", "'..'"), (".x", "characters"), ("_x", "characters"), ("a b", "characters"),
    ("été", "characters"), ("a\x00b", "characters"), ("x.", "ends with"), ("CON", "device"), ("lpt1.save", "device"),
    ("List", "reserved"), (None, "empty"), (5, "empty"),
])
def test_unusable_slot_names_say_why(given, reason):
    with pytest.raises(InvalidInput) as caught:
        savepoints.check_slot(given)
    assert caught.value.code == "invalid_slot"
    assert reason in caught.value.message


# -- writing and the file format ----------------------------------------------------------------------

def test_nothing_is_created_until_the_first_save():
    assert savepoints.summaries() == []
    with pytest.raises(NotFound):
        savepoints.read("s")
    assert not savepoints.saves_dir().exists()
    savepoints.write("s", MINIMAL)
    assert savepoints.saves_dir().is_dir()


def test_the_file_is_canonical_json_with_the_documented_fields():
    record, created = savepoints.write("s", MINIMAL | {"label": "L"})
    raw = (savepoints.saves_dir() / "s.json").read_text(encoding="utf-8")
    assert created and json.loads(raw) == record
    assert raw == json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert set(record) == {"format", "version", "slot", "created_at", "updated_at", "vars", "node_pointer", "seed",
                           "rng", "scene_id", "project", "pov", "step", "scene_digest", "label", "metadata",
                           "trace", "history"}


def test_parse_body_keeps_extras_in_metadata_and_refuses_ambiguity():
    fields, scene = savepoints.parse_body(MINIMAL | {"chapter": 3, "scene": {"id": "x"}})
    assert fields.metadata == {"chapter": 3} and scene == {"id": "x"}
    with pytest.raises(InvalidInput, match="both at the top level and in metadata"):
        savepoints.parse_body(MINIMAL | {"chapter": 3, "metadata": {"chapter": 4}})
    with pytest.raises(InvalidInput, match="'title' and 'label'"):
        savepoints.parse_body(MINIMAL | {"title": "a", "label": "b"})
    with pytest.raises(InvalidInput, match="did you mean 'step'"):
        savepoints.parse_body(MINIMAL | {"setp": 3})
    with pytest.raises(InvalidInput, match="scene"):
        savepoints.parse_body(MINIMAL | {"scene": "cafe"})


def test_parse_body_from_a_runner_state():
    runner = ScenarioRunner(parse_scene(branchy()))
    state = runner.step(runner.start(seed=9))
    fields, _ = savepoints.parse_body({"state": state.model_dump(mode="json"), "label": "x"})
    assert (fields.node_pointer, fields.vars, fields.seed, fields.rng, fields.step, fields.scene_id) == (
        state.node, state.vars, state.seed, state.rng, state.step, state.scene_id)
    assert fields.trace == state.trace and fields.history == state.history and fields.label == "x"


def test_scene_digest_follows_content_not_key_order():
    scene = branchy()
    reordered = dict(reversed(list(scene.items())))
    digest = savepoints.scene_digest(parse_scene(scene))
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    assert savepoints.scene_digest(parse_scene(reordered)) == digest
    scene["nodes"][0]["text"] = "Hey!"
    assert savepoints.scene_digest(parse_scene(scene)) != digest


# -- damaged files and crashes ------------------------------------------------------------------------

def write_raw(slot: str, text: str) -> None:
    savepoints.saves_dir().mkdir(parents=True, exist_ok=True)
    (savepoints.saves_dir() / f"{slot}.json").write_text(text, encoding="utf-8")


def test_a_file_that_is_not_json_is_reported_and_left_in_place():
    write_raw("s", '{"vars": {"tru')
    for _ in range(2):
        with pytest.raises(Conflict) as caught:
            savepoints.read("s")
        assert caught.value.code == "save_unreadable" and "not valid JSON" in caught.value.message
        assert "not valid JSON" in savepoints.summaries()[0]["error"]
    assert sorted(p.name for p in savepoints.saves_dir().iterdir()) == ["s.json"]
    assert (savepoints.saves_dir() / "s.json").read_text(encoding="utf-8") == '{"vars": {"tru'


@pytest.mark.parametrize(("content", "words"), [
    ({"hello": 1}, "not a ComfyVN save"),
    ({"format": "comfyvn.save", "version": 2}, "version 2"),
    ({"format": "comfyvn.save", "version": 1, "vars": {}, "seed": 1, "created_at": "t", "updated_at": "t"},
     "node_pointer"),
])
def test_unusable_save_files_are_409_and_listed_with_an_error(content, words):
    savepoints.write("good", MINIMAL)
    write_raw("bad", json.dumps(content))
    with pytest.raises(Conflict, match=words):
        savepoints.read("bad")
    listed = {item["slot"]: item for item in savepoints.summaries()}
    assert words in listed["bad"]["error"] and "error" not in listed["good"]


def test_files_that_are_not_usable_slots_are_listed_with_an_error():
    write_raw("Upper", json.dumps({"hello": 1}))
    write_raw("bad name", "{}")
    listed = {item["slot"]: item["error"] for item in savepoints.summaries()}
    assert "lower case" in listed["Upper"] and "invalid slot name" in listed["bad name"]


def test_a_leftover_temp_file_from_a_crash_is_ignored():
    savepoints.write("s", MINIMAL)
    (savepoints.saves_dir() / ".s.json.k2j3.tmp").write_text('{"vars": {"tr', encoding="utf-8")
    assert savepoints.read("s")["vars"] == MINIMAL["vars"]
    assert [item["slot"] for item in savepoints.summaries()] == ["s"]


def test_interrupted_write_leaves_the_previous_save(monkeypatch):
    before, _ = savepoints.write("s", MINIMAL)
    real_fsync = os.fsync

    def crash(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", crash)  # the temp file is written but never renamed into place
    with pytest.raises(OSError):
        savepoints.write("s", MINIMAL | {"vars": {"trust": 50}})
    monkeypatch.setattr(os, "fsync", real_fsync)  # (undo() would also undo the isolated data dir)
    assert savepoints.read("s") == before
    assert sorted(p.name for p in savepoints.saves_dir().iterdir()) == [".lock", "s.json"]


def test_delete_unknown_slot_is_404():
    with pytest.raises(NotFound, match="'ghost'"):
        savepoints.delete("ghost")


# -- resuming -----------------------------------------------------------------------------------------

def finishing_scene() -> dict:
    return {"id": "fin", "start": "a", "variables": {"key": False}, "nodes": [
        {"id": "a", "text": "A", "choices": [
            {"id": "to_locked", "target": "locked"}, {"id": "to_stop", "target": "stop"}]},
        {"id": "locked", "text": "A locked door.", "choices": [
            {"id": "open", "target": "z", "conditions": [{"key": "key", "operator": "eq", "value": True}]}]},
        {"id": "stop", "text": "Nothing more."},
        {"id": "z", "end": True},
    ]}


@pytest.mark.parametrize(("choice", "reason"), [("to_locked", "no_choices"), ("to_stop", "dead_end")])
def test_resume_marks_the_run_finished_exactly_as_the_runner_does(choice, reason):
    scene = finishing_scene()
    runner = ScenarioRunner(parse_scene(scene))
    state = runner.step(runner.start(seed=1), choice)
    assert (state.finished, state.reason) == (True, reason)
    savepoints.write("s", {"vars": state.vars, "node_pointer": state.node, "seed": 1})
    _, resumed, changed = savepoints.resume("s", scene=scene)
    assert (resumed.finished, resumed.reason) == (True, reason) and changed is None


def test_resume_follows_the_scene_as_it_is_now():
    scene = finishing_scene()
    savepoints.write("s", {"vars": {"key": False}, "node_pointer": "locked", "seed": 1, "scene": scene})
    scene["nodes"][1]["end"] = True  # edited: the locked door now ends the story
    _, state, changed = savepoints.resume("s", scene=scene)
    assert changed is True and (state.finished, state.reason) == (True, "end")


def test_resume_keeps_the_undo_history_of_an_unchanged_scene():
    scene = branchy()
    runner = ScenarioRunner(parse_scene(scene))
    state = runner.run(runner.start(seed=4), max_steps=3)[0]
    savepoints.write("s", {"state": state.model_dump(mode="json"), "scene": scene})
    runner2, resumed, changed = savepoints.resume("s", scene=scene)
    assert changed is False and resumed == state
    assert runner2.back(resumed, 2) == runner.back(state, 2)
