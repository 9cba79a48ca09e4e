"""Three-way merges: fast-forward, clean merges, conflicts (edit/edit, delete/edit, add/add),
resolution maps, and merging worldlines (dry runs and refused merges write nothing)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput
from comfyvn.diffmerge.merge import merge, merge_order, three_way
from comfyvn.pov import manager, worldlines
from tests.pov.samples import canon, edited, node, scene, without

BASE = canon(scene())


def test_fast_forward_when_the_target_did_not_change():
    source = canon(edited(scene(), "boat", text="The boat sinks."))
    outcome = three_way(BASE, source, copy.deepcopy(BASE))
    assert outcome["fast_forward"] is True and outcome["conflicts"] == []
    assert outcome["merged"] == source
    assert outcome["source_changes"] == [{"key": "boat", "change": "changed", "outcome": "applied"}]


def test_nothing_to_merge_is_up_to_date_and_keeps_the_target():
    target = canon(edited(scene(), "road", text="A short road."))
    outcome = three_way(BASE, copy.deepcopy(BASE), target)
    assert outcome["fast_forward"] is False and outcome["up_to_date"] is True
    assert outcome["merged"] == target
    assert outcome["source_changes"] == [] and outcome["target_changes"] == 1


def test_clean_merge_applies_both_sides():
    source = edited(scene(), "boat", text="The boat sinks.")
    source["nodes"].insert(3, {"id": "storm", "text": "Thunder.", "next": "boat"})
    source["variables"]["storm"] = True
    source = canon(source)
    target = canon(edited(without(scene(), "home"), "road", next=None, end=True))
    outcome = three_way(BASE, source, target)
    assert outcome["conflicts"] == [] and outcome["fast_forward"] is False
    merged = outcome["merged"]
    assert [n["id"] for n in merged["nodes"]] == ["arrive", "fork", "boat", "storm", "pier", "road"]
    assert node(merged, "boat")["text"] == "The boat sinks."
    assert node(merged, "road")["end"] is True and "next" not in node(merged, "road")
    assert merged["variables"] == {"trust": 0, "storm": True}
    assert {(c["key"], c["change"], c["outcome"]) for c in outcome["source_changes"]} == {
        ("boat", "changed", "applied"), ("storm", "added", "applied"), ("variable:storm", "added", "applied")}
    assert outcome["target_changes"] == 2  # road edited, home removed


def test_new_nodes_go_after_their_source_predecessor():
    assert merge_order(["a", "b", "c"], ["a", "x", "b", "y", "c", "z"], {"a", "b", "c", "x", "y", "z"}) == [
        "a", "x", "b", "y", "c", "z"]
    assert merge_order(["b", "a"], ["n", "a"], {"a", "b", "n"}) == ["n", "b", "a"]


def test_same_change_on_both_sides_is_not_a_conflict():
    both = canon(edited(scene(), "boat", text="Same."))
    outcome = three_way(BASE, both, copy.deepcopy(both))
    assert outcome["conflicts"] == []
    assert outcome["source_changes"] == [{"key": "boat", "change": "changed", "outcome": "already_in_target"}]


def test_edit_edit_conflict_is_reported_with_all_versions_and_keeps_the_target():
    source = canon(edited(scene(), "boat", text="Source."))
    target = canon(edited(scene(), "boat", text="Target."))
    outcome = three_way(BASE, source, target)
    (conflict,) = outcome["conflicts"]
    assert conflict["key"] == "boat" and conflict["kind"] == "edit/edit" and conflict["resolution"] is None
    assert (conflict["base"]["text"], conflict["source"]["text"], conflict["target"]["text"]) == (
        "The boat rocks.", "Source.", "Target.")
    assert outcome["unresolved"] == ["boat"]
    assert node(outcome["merged"], "boat")["text"] == "Target."
    assert outcome["source_changes"] == [{"key": "boat", "change": "changed", "outcome": "conflict"}]


def test_delete_versus_edit_conflicts_both_ways():
    deleted = canon(edited(without(scene(), "home"), "road", next=None, end=True))
    home_edited = canon(edited(scene(), "home", text="Home at last."))
    outcome = three_way(BASE, deleted, home_edited)
    assert [(c["key"], c["kind"]) for c in outcome["conflicts"]] == [("home", "delete/edit")]
    assert outcome["conflicts"][0]["source"] is None
    assert node(outcome["merged"], "home")["text"] == "Home at last."  # the target's edit stays until resolved
    reverse = three_way(BASE, home_edited, deleted)
    assert [(c["key"], c["kind"]) for c in reverse["conflicts"]] == [("home", "edit/delete")]


def test_add_add_and_scene_field_conflicts_use_prefixed_keys():
    source = scene()
    source["title"] = "A"
    source["variables"]["mood"] = "calm"
    source = canon(source)
    target = scene()
    target["title"] = "B"
    target["variables"]["mood"] = "tense"
    target = canon(target)
    outcome = three_way(BASE, source, target)
    assert sorted((c["key"], c["kind"]) for c in outcome["conflicts"]) == [
        ("scene:title", "edit/edit"), ("variable:mood", "add/add")]


def test_resolution_map_settles_conflicts():
    source = canon(edited(edited(scene(), "boat", text="S-boat"), "road", text="S-road"))
    target = canon(edited(edited(scene(), "boat", text="T-boat"), "road", text="T-road"))
    outcome = three_way(BASE, source, target, {"boat": "source", "road": "target"})
    assert outcome["unresolved"] == []
    assert node(outcome["merged"], "boat")["text"] == "S-boat"
    assert node(outcome["merged"], "road")["text"] == "T-road"
    assert {c["key"]: c["outcome"] for c in outcome["source_changes"]} == {
        "boat": "resolved_source", "road": "resolved_target"}


def test_resolutions_for_keys_that_are_not_conflicts_are_refused():
    source = canon(edited(scene(), "boat", text="S"))
    with pytest.raises(InvalidInput) as info:
        three_way(BASE, source, copy.deepcopy(BASE), {"road": "source"})
    assert info.value.code == "unknown_conflict"
    with pytest.raises(InvalidInput):
        three_way(BASE, source, canon(edited(scene(), "boat", text="T")), {"boat": "mine"})


# -- property: merging is symmetric in its conflicts and exact in the trivial cases -------------

texts = st.sampled_from(["a", "b", "c"])
edits = st.dictionaries(st.sampled_from(["arrive", "boat", "pier", "road", "home"]), texts, max_size=5)


def apply(edit: dict[str, str]):
    data = scene()
    for node_id, text in edit.items():
        node(data, node_id)["text"] = text
    return canon(data)


@settings(max_examples=60, deadline=None)
@given(edits, edits)
def test_merge_properties(source_edit, target_edit):
    source, target = apply(source_edit), apply(target_edit)
    forward, backward = three_way(BASE, source, target), three_way(BASE, target, source)
    assert {c["key"] for c in forward["conflicts"]} == {c["key"] for c in backward["conflicts"]}
    if not forward["conflicts"]:
        assert forward["merged"] == backward["merged"]
    else:  # a conflicting node keeps the target's version and every other change is in
        for key in forward["unresolved"]:
            assert node(forward["merged"], key) == node(target, key)
    for n in forward["merged"]["nodes"]:
        versions = [node(x, n["id"]) for x in (source, target)]
        assert n in versions
    assert three_way(BASE, source, copy.deepcopy(BASE))["merged"] == source
    assert three_way(BASE, copy.deepcopy(BASE), target)["merged"] == target


# -- merging worldlines ---------------------------------------------------------------------------

@pytest.fixture
def family():
    """'main' forked from the inline scene, 'side' forked from 'main'."""
    main = manager.fork("default", node="arrive", scene=scene(), worldline_id="main")
    side = manager.fork("default", node="fork", worldline="main", worldline_id="side", pov="bob")
    return main, side


def edit(worldline_id, node_id, **changes):
    record = worldlines.get("default", worldline_id)
    data = edited(record["scene"], node_id, **changes)
    return manager.update("default", worldline_id, scene=data)


def merges():
    return [e["payload"] for e in modder_hooks.history(event="on_worldline_merge")]


def test_merge_into_the_parent_fast_forwards_and_moves_the_base(family):
    edit("side", "boat", text="Side boat.")
    result = merge("default", "side")
    assert result["target"] == "main" and result["fast_forward"] is True and result["applied"] is True
    assert node(worldlines.get("default", "main")["scene"], "boat")["text"] == "Side boat."
    side = worldlines.get("default", "side")
    assert side["base"] == side["scene"]  # the new common ancestor
    assert side["merges"][0]["target"] == "main" and side["merges"][0]["fast_forward"] is True
    assert merges() == [{"project": "default", "source": "side", "target": "main", "fast_forward": True,
                         "conflicts": 0, "dry_run": False, "applied": True}]


def test_dry_run_writes_nothing(family):
    edit("side", "boat", text="Side boat.")
    before = {w: worldlines.get("default", w) for w in ("main", "side")}
    result = merge("default", "side", dry_run=True)
    assert result["applied"] is False and result["dry_run"] is True
    assert node(result["merged"], "boat")["text"] == "Side boat."
    assert {w: worldlines.get("default", w) for w in ("main", "side")} == before
    assert merges()[-1]["dry_run"] is True and merges()[-1]["applied"] is False


def test_conflicting_merge_writes_nothing_until_resolved(family):
    edit("side", "boat", text="Side boat.")
    edit("main", "boat", text="Main boat.")
    edit("main", "road", text="Main road.")
    before = {w: worldlines.get("default", w) for w in ("main", "side")}
    with pytest.raises(Conflict) as info:
        merge("default", "side")
    assert info.value.code == "merge_conflict" and info.value.details["unresolved"] == ["boat"]
    assert {w: worldlines.get("default", w) for w in ("main", "side")} == before
    result = merge("default", "side", resolutions={"boat": "source"})
    assert result["applied"] is True and result["fast_forward"] is False
    main = worldlines.get("default", "main")["scene"]
    assert node(main, "boat")["text"] == "Side boat." and node(main, "road")["text"] == "Main road."
    assert worldlines.get("default", "side")["merges"][0]["resolved"] == {"boat": "source"}
    assert [m["applied"] for m in merges()] == [False, True]


def test_merge_that_would_not_validate_is_refused(family):
    # side points a new choice at 'home' while main deletes 'home': each is valid, the merge is not
    side = worldlines.get("default", "side")["scene"]
    node(side, "fork")["choices"].append({"id": "walk", "target": "home"})
    manager.update("default", "side", scene=side)
    main = edited(without(worldlines.get("default", "main")["scene"], "home"), "road", next=None, end=True)
    manager.update("default", "main", scene=main)
    before = worldlines.get("default", "main")
    with pytest.raises(InvalidInput) as info:
        merge("default", "side")
    assert info.value.code == "invalid_scene"
    assert any(e["code"] == "unknown_target" for e in info.value.details["errors"])
    assert worldlines.get("default", "main") == before
    preview = merge("default", "side", dry_run=True)
    assert preview["valid"] is False and preview["errors"]


def test_pulling_parent_changes_into_a_child_uses_the_child_base(family):
    edit("main", "road", text="Main road.")
    edit("side", "boat", text="Side boat.")
    result = merge("default", "main", target="side")
    assert result["base_from"] == "target" and result["conflicts"] == [] and result["applied"] is True
    side = worldlines.get("default", "side")
    assert node(side["scene"], "road")["text"] == "Main road."
    assert node(side["scene"], "boat")["text"] == "Side boat."
    assert side["base"] == worldlines.get("default", "main")["scene"]
    # merging back is now a fast-forward for main
    assert merge("default", "side", dry_run=True)["fast_forward"] is True


def test_merge_refusals(family):
    with pytest.raises(InvalidInput):
        merge("default", "main", target="main")
    other = dict(scene(), id="other")
    with pytest.raises(InvalidInput):
        merge("default", "side", target_scene=other)
    with pytest.raises(InvalidInput):
        merge("default", "side", target="main", target_scene=scene())
