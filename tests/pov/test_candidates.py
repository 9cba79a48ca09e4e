"""POV candidates from a scene's participants, and matching a requested POV against them."""

from __future__ import annotations

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.pov.manager import candidates, match_candidate
from comfyvn.scenario.models import parse_scene
from tests.pov.samples import scene


def by_id(found):
    return {c["id"]: c for c in found}


def test_candidates_come_from_cast_speakers_node_povs_and_visible_to():
    found = candidates(parse_scene(scene()))
    # cast members in cast order (the narrator is not a POV), then other names sorted
    assert [c["id"] for c in found] == ["alice", "bob", "Carol"]
    alice, bob, carol = (by_id(found)[k] for k in ("alice", "bob", "Carol"))
    assert alice == {"id": "alice", "name": "Alice", "role": "character", "lines": 1, "nodes": 1, "choices": 1,
                     "sources": ["cast", "node_pov", "speaker", "visible_to"]}
    assert bob == {"id": "bob", "name": "Bob", "role": "user", "lines": 1, "nodes": 2, "choices": 1,
                   "sources": ["cast", "node_pov", "speaker", "visible_to"]}
    assert carol == {"id": "Carol", "name": "Carol", "role": None, "lines": 1, "nodes": 0, "choices": 0,
                     "sources": ["speaker"]}


def test_candidates_without_cast_are_sorted_and_include_the_scene_pov():
    data = {"id": "s", "start": "a", "pov": "Zed", "nodes": [
        {"id": "a", "speaker": "Mia", "text": "x", "next": "b"},
        {"id": "b", "pov": "Ann", "choices": [{"id": "c", "target": "e", "visible_to": ["Mia", "Mia", "Kit"]}]},
        {"id": "e", "end": True},
    ]}
    found = candidates(parse_scene(data))
    assert [c["id"] for c in found] == ["Ann", "Kit", "Mia", "Zed"]
    mia = by_id(found)["Mia"]
    assert (mia["lines"], mia["choices"], mia["sources"]) == (1, 1, ["speaker", "visible_to"])  # duplicates once
    assert by_id(found)["Zed"]["sources"] == ["scene_pov"]
    assert by_id(found)["Ann"]["nodes"] == 1


def test_candidates_are_deterministic():
    first = candidates(parse_scene(scene()))
    assert candidates(parse_scene(scene())) == first


def test_match_candidate_accepts_ids_and_display_names():
    parsed = parse_scene(scene())
    assert match_candidate(parsed, "bob") == "bob"
    assert match_candidate(parsed, "Bob") == "bob"
    assert match_candidate(parsed, "Carol") == "Carol"


def test_match_candidate_refuses_unknown_and_narrator():
    parsed = parse_scene(scene())
    for name in ("Nobody", "Narrator"):
        with pytest.raises(InvalidInput) as info:
            match_candidate(parsed, name)
        assert info.value.code == "unknown_pov"
        assert info.value.details["candidates"] == ["alice", "bob", "Carol"]
