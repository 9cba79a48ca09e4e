"""Coverage mode: every reachable choice path, bounded; unreachable nodes, dead ends, endings."""

from __future__ import annotations

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.qa.playtest import explore_coverage, run_playtest
from tests.support.scenes import sample_scene


def maze() -> dict:
    """A hub with a do-nothing loop, a dead end, a gate whose only choice never opens, an ending
    behind a condition that never holds, and an orphan no edge leads to."""
    return {
        "id": "maze", "start": "hub", "variables": {"key": False},
        "nodes": [
            {"id": "hub", "type": "choice", "text": "Which way?", "choices": [
                {"id": "wait", "target": "hub"},
                {"id": "left", "target": "pit"},
                {"id": "right", "target": "gate"},
                {"id": "home", "target": "home"},
                {"id": "vault_door", "target": "vault", "conditions": [{"key": "key", "operator": "eq", "value": True}]},
            ]},
            {"id": "pit", "text": "You fall. Nothing else happens."},
            {"id": "gate", "type": "choice", "text": "A locked gate.", "choices": [
                {"id": "open", "target": "home", "conditions": [{"key": "key", "operator": "eq", "value": True}]},
            ]},
            {"id": "home", "type": "end", "text": "Home at last."},
            {"id": "vault", "type": "end", "text": "Treasure!"},
            {"id": "orphan", "text": "Nobody comes here.", "next": "home"},
        ],
    }


def test_reports_unreachable_nodes_dead_ends_and_endings():
    report = explore_coverage(maze())
    assert report["complete"] and report["cut"] == {"depth": False, "states": False}
    assert report["visited"] == ["hub", "pit", "gate", "home"]
    assert report["unreachable"] == [{"node": "vault", "cause": "not_reached"},
                                     {"node": "orphan", "cause": "no_path"}]
    assert report["dead_ends"] == [{"node": "pit", "reason": "dead_end", "choices": ["left"], "step": 1},
                                   {"node": "gate", "reason": "no_choices", "choices": ["right"], "step": 1}]
    assert report["endings"] == [{"node": "home", "choices": ["home"], "step": 1}]
    assert report["choices"] == {"total": 6, "taken": 4, "never_taken": ["vault_door", "open"]}
    assert report["states"] == 1  # the 'wait' loop comes back to a state already seen


def test_variables_change_what_is_reachable():
    report = explore_coverage(maze(), variables={"key": True})
    assert {e["node"] for e in report["endings"]} == {"home", "vault"}
    assert report["dead_ends"] == [{"node": "pit", "reason": "dead_end", "choices": ["left"], "step": 1}]
    assert report["unreachable"] == [{"node": "orphan", "cause": "no_path"}]


def test_the_path_to_a_dead_end_reproduces_it_in_a_run():
    report = explore_coverage(maze())
    for dead in report["dead_ends"]:
        result = run_playtest(maze(), choices=dead["choices"], emit=False)
        assert result.trace["final"]["node"] == dead["node"] and result.trace["reason"] == dead["reason"]


def test_random_branches_and_pov_are_all_explored():
    everyone = explore_coverage(sample_scene())
    assert everyone["unreachable"] == [] and everyone["complete"]
    assert {e["node"] for e in everyone["endings"]} == {"good", "bad"}
    mira = explore_coverage(sample_scene(), pov="mira")
    assert mira["pov"] == "mira" and "secret" in mira["choices"]["never_taken"]
    assert "secret" not in everyone["choices"]["never_taken"]


def counter() -> dict:
    """A loop that changes a variable every time round: new states forever."""
    return {"id": "counter", "start": "tick", "variables": {"n": 0}, "nodes": [
        {"id": "tick", "type": "choice", "actions": [{"type": "increment", "key": "n"}], "choices": [
            {"id": "again", "target": "tick"}, {"id": "stop", "target": "done"}]},
        {"id": "done", "type": "end"}]}


def test_bounds_cut_an_endless_search_and_say_so():
    by_depth = explore_coverage(counter(), max_depth=25)
    assert not by_depth["complete"] and by_depth["cut"] == {"depth": True, "states": False}
    assert by_depth["max_depth_reached"] == 25 and by_depth["endings"][0]["node"] == "done"
    by_states = explore_coverage(counter(), max_states=10)
    assert by_states["cut"] == {"depth": False, "states": True} and by_states["states"] == 10


def generated(size: int = 1000) -> dict:
    """A 1,000-node story: two-way choices with a toggled flag, a condition, and loops back."""
    nodes = []
    for i in range(size - 1):
        choices = [{"id": f"c{i}a", "target": f"n{i + 1}", "weight": 2,
                    "actions": [{"type": "toggle", "key": "flag"}]}]
        if i + 2 < size:
            choices.append({"id": f"c{i}b", "target": f"n{i + 2}",
                            "conditions": [{"key": "flag", "operator": "eq", "value": False}]})
        if i % 10 == 0 and i >= 20:
            choices.append({"id": f"c{i}back", "target": f"n{i - 20}"})
        nodes.append({"id": f"n{i}", "type": "choice", "text": f"line {i}", "choices": choices})
    nodes.append({"id": f"n{size - 1}", "type": "end", "text": "The end."})
    return {"id": "big", "start": "n0", "variables": {"flag": False}, "nodes": nodes}


def test_a_thousand_node_scene_with_loops_is_explored_completely():
    report = explore_coverage(generated(), max_depth=2000)
    assert report["complete"] and report["nodes"] == {"total": 1000, "visited": 1000}
    assert report["unreachable"] == [] and report["dead_ends"] == []
    assert report["states"] <= 2000  # (node, flag): at most two states per node
    assert report["endings"][0]["node"] == "n999"
    path = report["endings"][0]["choices"]
    assert run_playtest(generated(), choices=path, emit=False).trace["final"]["node"] == "n999"


@pytest.mark.parametrize("kwargs", [{"max_depth": 0}, {"max_states": True}, {"variables": "x"}])
def test_bad_bounds_are_refused(kwargs):
    with pytest.raises(InvalidInput):
        explore_coverage(maze(), **kwargs)
