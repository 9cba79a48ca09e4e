"""Condition and action semantics (the rules the exporter must reproduce)."""

from __future__ import annotations

import pytest

from comfyvn.scenario.logic import apply_actions, check, clone, get_var
from comfyvn.scenario.models import Action, Condition

VARS = {"n": 3, "s": "beta", "flag": True, "none": None, "obj": {"deep": {"x": 1}}, "items": ["a", "b"]}


@pytest.mark.parametrize(("key", "operator", "value", "expected"), [
    ("n", "eq", 3, True), ("n", "neq", 3, False), ("n", "gt", 2, True), ("n", "gte", 3, True),
    ("n", "lt", 3, False), ("n", "lte", 3, True), ("s", "gt", "alpha", True), ("s", "lt", "alpha", False),
    ("n", "gt", "2", False),  # number vs string: false, never an error
    ("flag", "gt", 0, False),  # booleans are not numbers
    ("n", "in", [1, 3], True), ("n", "not_in", [1, 3], False), ("obj.deep.x", "eq", 1, True),
    ("missing", "eq", None, True), ("missing", "gt", 0, False), ("missing", "not_in", [1], True),
    ("none", "exists", None, True), ("missing", "exists", None, False), ("missing", "not_exists", None, True),
    ("obj.deep", "exists", None, True), ("obj.deep.y", "not_exists", None, True), ("n.x", "exists", None, False),
])
def test_operators(key, operator, value, expected):
    assert check([Condition(key=key, operator=operator, value=value)], VARS) is expected


def test_conditions_are_all_required():
    conditions = [Condition(key="n", operator="gt", value=0), Condition(key="flag", value=False)]
    assert check(conditions, VARS) is False
    assert check([], VARS) is True


def run(actions, start=None):
    variables = clone(start if start is not None else VARS)
    apply_actions([Action(**a) for a in actions], variables)
    return variables


def test_set_creates_parents_and_copies_values():
    value = {"k": [1]}
    out = run([{"type": "set", "key": "a.b.c", "value": value}, {"type": "set", "key": "n.x", "value": 1}])
    assert out["a"] == {"b": {"c": {"k": [1]}}}
    assert out["n"] == {"x": 1}  # a non-object parent is replaced
    out["a"]["b"]["c"]["k"].append(2)
    assert value == {"k": [1]}


def test_increment_decrement_toggle_clear():
    out = run([
        {"type": "increment", "key": "n"}, {"type": "increment", "key": "new", "value": 2.5},
        {"type": "decrement", "key": "s", "value": 2}, {"type": "toggle", "key": "flag"},
        {"type": "toggle", "key": "fresh"}, {"type": "clear", "key": "obj.deep"}, {"type": "clear", "key": "nope.x"},
    ])
    assert out["n"] == 4 and out["new"] == 2.5 and out["s"] == -2
    assert out["flag"] is False and out["fresh"] is True
    assert out["obj"] == {} and "nope" not in out


def test_append_and_remove():
    out = run([{"type": "append", "key": "items", "value": "a"}, {"type": "remove", "key": "items", "value": "a"},
               {"type": "append", "key": "n", "value": 1}, {"type": "remove", "key": "ghost", "value": 1}])
    assert out["items"] == ["b", "a"]  # the first equal item goes
    assert out["n"] == [1] and out["ghost"] == []


def test_model_rules_for_actions_and_conditions():
    with pytest.raises(ValueError, match="numeric"):
        Action(type="increment", key="n", value="2")
    with pytest.raises(ValueError, match="list"):
        Condition(key="n", operator="in", value=3)
    with pytest.raises(ValueError):
        Condition(key="bad key", operator="eq", value=1)
    assert get_var(VARS, "obj.deep.x") == 1 and get_var(VARS, "obj.zz", "d") == "d"
