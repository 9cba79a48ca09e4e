"""Personas from personas_*.json backups and settings.json."""

from __future__ import annotations

import json

import pytest

from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern.personas import Persona, read_personas
from tests.sillytavern.builders import fixture


def test_backup_file():
    result = read_personas(fixture("sillytavern/synthetic/personas_20240928.json"), "personas_20240928.json")
    assert result.problems == []
    assert result.default == "user-default"
    user, wanderer = result.personas
    assert user == Persona(id="user-default", avatar="user-default.png", name="User", description="",
                           position=0, depth=2, role=0)
    assert (wanderer.id, wanderer.avatar, wanderer.name) == ("1727478000000-wanderer", "1727478000000-Wanderer.png",
                                                            "Wanderer")
    assert wanderer.description == "{{user}} is a lost traveler."


def test_whole_settings_json():
    settings = {"firstRun": False, "main_api": "openai",
                "power_user": {"theme": "Dark", "default_persona": "b.png",
                               "personas": {"a.png": "Ann", "b.png": "Bob"},
                               "persona_descriptions": {"b.png": {"description": "Bob.", "position": 4,
                                                                  "depth": "3", "role": 1, "title": "Sir",
                                                                  "lorebook": "Bobworld"}}}}
    result = read_personas(json.dumps(settings).encode(), "settings.json")
    assert [p.id for p in result.personas] == ["a", "b"] and result.default == "b"
    bob = result.personas[1]
    assert (bob.description, bob.position, bob.depth, bob.role) == ("Bob.", 4, 3, 1)
    assert bob.metadata == {"title": "Sir", "lorebook": "Bobworld"}
    assert result.personas[0].description == "" and result.problems == []


def test_power_user_fragment_and_quirks():
    fragment = {
        "personas": {"A.png": "Upper", "a.png": "Lower", "n.png": 5, "blank.png": "  ", "": "No avatar"},
        "persona_descriptions": {"desc-only.png": {"description": None, "position": "x"},
                                 "A.png": "not an object"},
        "default_persona": "missing.png",
    }
    result = read_personas(json.dumps(fragment).encode(), "fragment.json")
    assert [(p.id, p.name) for p in result.personas] == [
        ("a", "Upper"), ("a-2", "Lower"), ("n", "5"), ("blank", "blank"), ("desc-only", "desc-only")]
    assert result.personas[4].position == 0 and result.personas[4].description == ""
    assert result.default is None
    problems = {p.field for p in result.problems}
    assert {"personas.a.png", "personas.", "persona_descriptions.A.png", "persona_descriptions.desc-only.png.position",
            "default_persona", "personas.n.png", "personas.blank.png", "personas.desc-only.png"} <= problems


@pytest.mark.parametrize("content, field, words", [
    ({"personas": ["a.png"], "persona_descriptions": {}, "default_persona": 3}, "personas", "'personas' is list"),
    ({"personas": "Wanderer"}, "personas", "'personas' is str"),
    ({"personas": {}, "persona_descriptions": [1]}, "persona_descriptions", "'persona_descriptions' is list"),
    ({"power_user": {"personas": 5}}, "power_user.personas", "'power_user.personas' is int"),
    ({"personas": {"": "No avatar"}}, "personas.", "none of its 1 persona(s) could be read"),
])
def test_wrong_shapes_are_not_a_personas_file(content, field, words):
    """personas_bad.json: something is there and none of it is a persona: refused, naming the field
    (it used to be read as an empty roster: "0 added")."""
    with pytest.raises(UnreadableLog) as error:
        read_personas(json.dumps(content).encode(), "personas_bad.json")
    assert error.value.field == field and words in str(error.value)
    assert str(error.value).startswith("personas_bad.json: not a personas file: ")


def test_a_wrong_shape_beside_readable_personas_is_a_problem():
    result = read_personas(json.dumps({"personas": {"a.png": "Ann"}, "persona_descriptions": [],
                                       "default_persona": 3}).encode(), "p.json")
    assert [p.name for p in result.personas] == ["Ann"] and result.default is None
    assert [p.field for p in result.problems] == ["persona_descriptions", "default_persona"]


def test_no_personas_yet():
    result = read_personas(b'{"personas": null, "persona_descriptions": {}}', "p.json")
    assert (result.personas, result.default, result.problems) == ([], None, [])


@pytest.mark.parametrize("data", [b"{}", b'{"power_user": {}}', b"[1]", b"not json", b'{"power_user": 5}'])
def test_not_personas(data):
    with pytest.raises(UnreadableLog) as error:
        read_personas(data, "x.json")
    assert error.value.format == "personas"


def test_avatar_keys_that_are_paths_do_not_take_another_files_persona():
    result = read_personas(json.dumps({"personas": {"x.png": "X", "../../x": "Intruder", "a\\b.png": "B",
                                                    "..": "Dots"}}).encode(), "p.json")
    assert [(p.id, p.avatar) for p in result.personas] == [("x", "x.png")]
    assert {p.field for p in result.problems} >= {"personas.../../x", "personas.a\\b.png", "personas..."}
