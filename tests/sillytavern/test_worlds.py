"""World Info files and card lorebooks -> World / LoreEntry."""

from __future__ import annotations

import json

import pytest

from comfyvn.projects.models import World
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern.worlds import read_world, world_from_card_book
from tests.sillytavern.builders import fixture


def test_eldoria():
    result = read_world(fixture("sillytavern/default-content/Eldoria.json"), "Eldoria.json")
    world = result.world
    assert (world.id, world.name, world.metadata["format"]) == ("eldoria", "Eldoria", "worldinfo")
    assert result.problems == []
    assert [e.metadata["uid"] for e in world.entries] == [0, 1, 2, 3]
    first = world.entries[0]
    assert first.keys == ["eldoria", "wood", "forest", "magical forest"]
    assert first.content.startswith('{{user}}: "What is Eldoria?"')
    assert first.enabled is True
    assert first.metadata == {"uid": 0, "secondary_keys": [], "comment": "", "constant": False,
                              "selective": False, "order": 100, "position": 0}
    assert world.entries[3].keys == ["power", "magic", "ability"]


def test_full_fields_file():
    result = read_world(fixture("sillytavern/synthetic/worldinfo_full_fields.json"), "worlds/Harbor Town.json")
    world = result.world
    assert (world.id, world.name, world.metadata["source_file"]) == ("harbor-town", "Harbor Town",
                                                                     "worlds/Harbor Town.json")
    lamp, tess = world.entries
    assert lamp.keys == ["lighthouse", "lamp"] and lamp.metadata["secondary_keys"] == ["storm"]
    assert lamp.metadata["comment"] == "Lighthouse" and lamp.metadata["selective"] is True
    assert lamp.metadata["probability"] == 100 and lamp.metadata["use_probability"] is True
    assert lamp.metadata["depth"] == 4 and lamp.metadata["case_sensitive"] is None
    assert lamp.metadata["extra"]["addMemo"] is True and lamp.metadata["extra"]["displayIndex"] == 0
    assert tess.keys == ["/tess(a)?/i"]  # regex keys stay plain strings
    assert tess.metadata["constant"] is True and tess.metadata["position"] == 4 and tess.metadata["role"] == 1
    assert result.problems == []


def test_world_is_named_after_the_file():
    data = json.dumps({"entries": {}}).encode()
    assert read_world(data, "worlds/Harbor Town.json").world.name == "Harbor Town"
    assert read_world(data, "worlds/Harbor Town.json").world.id == "harbor-town"
    assert read_world(data, "").world.name == "World"


def test_old_subset_gets_defaults_and_order():
    data = json.dumps({"entries": {
        "10": {"key": ["c"], "content": "third", "order": 300},
        "2": {"key": ["b"], "content": "second", "order": "100"},
        "1": {"key": "a", "content": "first", "order": 100, "disable": True},
        "x": {"content": "no keys, no order"},
    }}).encode()
    world = read_world(data, "old.json").world
    assert [e.content for e in world.entries] == ["first", "second", "third", "no keys, no order"]
    assert [e.metadata["uid"] for e in world.entries] == [1, 2, 10, "x"]
    assert world.entries[0].enabled is False and world.entries[0].keys == ["a"]
    assert world.entries[3].keys == [] and world.entries[3].enabled is True
    assert world.entries[3].metadata == {"uid": "x"}


def test_both_namings_give_the_same_entry():
    wi = {"uid": 7, "key": ["moon"], "keysecondary": ["night"], "content": "Big moon.", "disable": True,
          "order": 40, "position": 1, "constant": True, "selective": True, "comment": "Moon", "probability": 50,
          "caseSensitive": True}
    card = {"id": 7, "keys": ["moon"], "secondary_keys": ["night"], "content": "Big moon.", "enabled": False,
            "insertion_order": 40, "position": 1, "constant": True, "selective": True, "comment": "Moon",
            "probability": 50, "case_sensitive": True}
    from_file = read_world(json.dumps({"entries": {"7": wi}}).encode(), "w.json").world.entries[0]
    from_card = world_from_card_book({"name": "Moon lore", "entries": [card]}, "unused").entries[0]
    assert from_file == from_card
    assert from_file.enabled is False and from_file.metadata["order"] == 40


def test_card_book():
    problems = []
    book = {"description": "Lore.", "scan_depth": "3", "token_budget": 500, "recursive_scanning": False,
            "extensions": {"x": 1},
            "entries": [{"keys": ["b"], "content": "B", "insertion_order": 2, "name": "Bee", "priority": "9",
                         "extensions": {"depth": 4}, "unknown_field": [1]},
                        {"keys": ["a"], "content": "A", "insertion_order": 1},
                        {"keys": ["c"], "content": "C", "enabled": "maybe"}]}
    world = world_from_card_book(book, "Mira lore", problems)
    assert isinstance(world, World) and (world.name, world.id, world.description) == ("Mira lore", "mira-lore", "Lore.")
    assert world.metadata == {"format": "card_book", "scan_depth": "3", "token_budget": 500,
                              "recursive_scanning": False, "extensions": {"x": 1}}
    assert [e.content for e in world.entries] == ["A", "B", "C"]  # order missing -> last
    bee = world.entries[1]
    assert bee.metadata["name"] == "Bee" and bee.metadata["priority"] == 9
    assert bee.metadata["extensions"] == {"depth": 4} and bee.metadata["extra"] == {"unknown_field": [1]}
    assert world.entries[2].enabled is True
    assert [p.field for p in problems] == ["character_book.entries.2.enabled"]


def test_card_book_with_bad_entries():
    problems = []
    world = world_from_card_book({"name": 5, "entries": "nope"}, "Fallback", problems)
    assert (world.name, world.entries) == ("5", [])
    assert [p.field for p in problems] == ["character_book.entries"]


def test_entries_list_and_bad_items():
    data = json.dumps({"name": "Listed", "entries": [{"keys": ["k"], "content": "ok"}, None, 3,
                                                     {"key": {"a": 1}, "content": ["x", "y"]}]}).encode()
    result = read_world(data, "list.json")
    assert result.world.name == "Listed"
    assert [e.content for e in result.world.entries] == ["ok", "x\ny"]
    assert sorted(p.field for p in result.problems) == ["entries.1", "entries.2", "entries.3.content",
                                                       "entries.3.key"]


@pytest.mark.parametrize("data, field", [
    (b'{"name": "x"}', "entries"), (b'{"entries": 5}', "entries"), (b"[]", "entries"), (b"{", None),
])
def test_not_a_world(data, field):
    with pytest.raises(UnreadableLog, match="not a World Info file|'entries' must be") as error:
        read_world(data, "x.json")
    assert error.value.format == "worldinfo" and error.value.field == field
