"""The published JSON Schema and the pydantic models agree, and scenes round-trip."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.scenario import schema as schema_mod
from comfyvn.scenario.models import Scene, parse_scene
from tests.support.scenes import sample_scene, scenes

VALIDATOR = jsonschema.Draft202012Validator(schema_mod.load_schema())


def test_schema_file_is_generated_from_the_models():
    assert schema_mod.main(["--check"]) == 0, "run: python -m comfyvn.scenario.schema --write"
    jsonschema.Draft202012Validator.check_schema(schema_mod.load_schema())
    assert schema_mod.load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_check_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "scenario_schema.json"
    stale.write_text("{}")
    monkeypatch.setattr(schema_mod, "schema_path", lambda: stale)
    assert schema_mod.main(["--check"]) == 1
    assert "--write" in capsys.readouterr().err


def full_scene() -> dict:
    scene = sample_scene()
    scene["nodes"][0]["beats"] = [
        {"kind": "background", "image": "cafe", "time_of_day": "night", "transition": {"style": "fade"}},
        {"kind": "music", "track": "m.ogg", "fadein": 1.5},
        {"kind": "show", "character": "mira", "expression": "joy", "position": "left"},
        {"kind": "say", "id": "l1", "speaker": "mira", "text": "Hi", "voice": "v.ogg",
         "source": {"chat": "c.jsonl", "message_index": 4, "timestamp": "May 1, 2024 3:00pm"}},
        {"kind": "narrate", "text": "She smiles."}, {"kind": "direction", "text": "leans in", "character": "mira"},
        {"kind": "sound", "track": "door.ogg"}, {"kind": "wait", "seconds": 1},
        {"kind": "transition", "transition": {"style": "dissolve", "duration": 0.3}},
        {"kind": "hide", "character": "mira"}, {"kind": "music", "action": "stop", "fadeout": 2},
    ]
    return scene


def test_both_validators_accept_a_scene_using_every_construct():
    data = full_scene()
    VALIDATOR.validate(data)
    assert parse_scene(data).nodes[0].beats[3].source.message_index == 4


@pytest.mark.parametrize("mutate", [
    lambda s: s["nodes"][0]["choices"][0].update(weight=-1),
    lambda s: s["nodes"][0].update(bogus=1),
    lambda s: s["nodes"][0]["beats"].append({"kind": "dance"}),
    lambda s: s["nodes"][0]["beats"].append({"kind": "say", "text": "no speaker"}),
    lambda s: s["nodes"][0]["beats"].append({"kind": "wait", "seconds": 0}),
    lambda s: s["nodes"][0].update(id="has space"),
    lambda s: s["nodes"][2]["choices"][0]["conditions"].append({"key": "x", "operator": "like"}),
    lambda s: s["nodes"][0]["actions"].append({"type": "explode", "key": "x"}),
    lambda s: s.update(nodes=[]),
    lambda s: s.pop("start"),
    lambda s: s.update(schema_version=2),
    lambda s: s["cast"][0].update(color="red"),
    lambda s: s["nodes"][0]["choices"][0].update(weight=True),
    lambda s: s["nodes"][0]["choices"][0].update(weight="2"),
    lambda s: s["nodes"][0]["choices"][0].update(weight=10**7),
    lambda s: s["variables"].update({"bad key": 1}),
    lambda s: s["nodes"][2]["choices"][0]["conditions"].append({"key": "x", "operator": "in", "value": 3}),
    lambda s: s["nodes"][0]["actions"].append({"type": "increment", "key": "x", "value": "2"}),
    lambda s: s["nodes"][0]["beats"].append({"kind": "music"}),
])
def test_both_validators_refuse_the_same_mistakes(mutate):
    data = full_scene()
    mutate(data)
    assert not VALIDATOR.is_valid(data)
    with pytest.raises(ValueError):
        parse_scene(data)


@settings(max_examples=60, deadline=None)
@given(scenes())
def test_generated_scenes_round_trip_and_satisfy_the_schema(data):
    VALIDATOR.validate(data)
    scene = parse_scene(data)
    canonical = scene.to_json()
    VALIDATOR.validate(canonical)
    assert parse_scene(canonical) == scene
    assert parse_scene(copy.deepcopy(canonical)).to_json() == canonical


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.one_of(st.none(), st.integers(), st.text()), max_size=4))
def test_variables_and_metadata_are_kept_verbatim(values):
    data = {"id": "s", "start": "a", "nodes": [{"id": "a", "end": True, "metadata": values}],
            "variables": {"v": values}, "metadata": values}
    canonical = parse_scene(data).to_json()
    assert canonical["variables"] == {"v": values}
    assert canonical["nodes"][0].get("metadata", {}) == values


def test_to_json_leaves_out_empty_fields_but_keeps_kinds():
    canonical = Scene.model_validate(full_scene()).to_json()
    beat = canonical["nodes"][0]["beats"][2]
    assert beat == {"kind": "show", "character": "mira", "expression": "joy", "position": "left"}
    assert "metadata" not in canonical["nodes"][1]


def test_empty_list_values_survive_the_canonical_form():
    # an 'in []' condition (never true) and an action setting a list to [] are meaningful: leaving
    # their value out would make the stored scene unreadable ('in' needs a list) or change the action
    data = {"id": "s", "start": "a", "variables": {}, "nodes": [
        {"id": "a", "actions": [{"type": "set", "key": "bag", "value": []}],
         "choices": [{"id": "c", "label": "Go", "target": "b",
                      "conditions": [{"key": "bag", "operator": "in", "value": []}]}]},
        {"id": "b", "end": True, "metadata": {}}]}
    canonical = parse_scene(data).to_json()
    assert canonical["nodes"][0]["choices"][0]["conditions"][0]["value"] == []
    assert canonical["nodes"][0]["actions"][0]["value"] == []
    assert canonical["variables"] == {}
    assert "metadata" not in canonical["nodes"][1]
    assert parse_scene(canonical) == parse_scene(data)
