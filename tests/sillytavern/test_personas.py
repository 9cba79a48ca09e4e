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


def test_wrong_shapes():
    result = read_personas(json.dumps({"personas": ["a.png"], "persona_descriptions": {},
                                       "default_persona": 3}).encode(), "p.json")
    assert result.personas == [] and result.default is None
    assert [p.field for p in result.problems] == ["personas", "default_persona"]


def test_no_personas_yet():
    result = read_personas(b'{"personas": null, "persona_descriptions": {}}', "p.json")
    assert (result.personas, result.default, result.problems) == ([], None, [])


@pytest.mark.parametrize("data", [b"{}", b'{"power_user": {}}', b"[1]", b"not json", b'{"power_user": 5}'])
def test_not_personas(data):
    with pytest.raises(UnreadableLog) as error:
        read_personas(data, "x.json")
    assert error.value.format == "personas"
