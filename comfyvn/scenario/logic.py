"""Conditions and actions over the story variables (a JSON object; dotted keys reach nested objects).

The rules, which the Ren'Py exporter reproduces exactly:

- A missing key reads as ``None``. ``exists`` is true when the key is present (even if ``None``).
- ``eq`` / ``neq`` use plain equality; ``in`` / ``not_in`` test membership in the condition's list.
- ``gt`` / ``gte`` / ``lt`` / ``lte`` compare two numbers (booleans are not numbers) or two
  strings; any other pair is false.
- ``set`` creates missing parent objects (replacing a non-object parent); ``clear`` deletes the key;
  ``increment`` / ``decrement`` treat a missing or non-numeric value as 0 and default to 1;
  ``toggle`` stores ``not value``; ``append`` / ``remove`` treat a non-list as an empty list;
  ``remove`` drops the first equal item.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Iterable
from typing import Any

from comfyvn.scenario.models import Action, Condition

_MISSING = object()


_NUMBER_TYPES = frozenset({int, float})  # exact types: bool (an int subclass) is not a number here


def is_number(value: Any) -> bool:
    return type(value) in _NUMBER_TYPES


def clone(value: Any) -> Any:
    """A deep copy of JSON data (much faster than ``copy.deepcopy``)."""
    if type(value) is dict:
        return {key: clone(item) if type(item) in _CONTAINERS else item for key, item in value.items()}
    if type(value) is list:
        return [clone(item) if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = (dict, list)


def lookup(variables: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``, or the module's missing marker."""
    current: Any = variables
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def get_var(variables: dict[str, Any], key: str, default: Any = None) -> Any:
    found = lookup(variables, tuple(key.split(".")))
    return default if found is _MISSING else found


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(left: Any, right: Any) -> bool:
        kinds = (type(left), type(right))
        if kinds[0] is kinds[1] and kinds[0] is str:
            return compare(left, right)
        if kinds[0] in _NUMBER_TYPES and kinds[1] in _NUMBER_TYPES:
            return compare(left, right)
        return False

    return check


def _in(left: Any, right: Any) -> bool:
    return left in right


def _not_in(left: Any, right: Any) -> bool:
    return left not in right


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": op.eq, "neq": op.ne, "gt": _ordered(op.gt), "gte": _ordered(op.ge),
    "lt": _ordered(op.lt), "lte": _ordered(op.le), "in": _in, "not_in": _not_in,
}

CompiledCondition = tuple[tuple[str, ...], str, Any]


def compile_conditions(conditions: Iterable[Condition]) -> tuple[CompiledCondition, ...]:
    return tuple((tuple(c.key.split(".")), c.operator, c.value) for c in conditions)


def holds(compiled: tuple[CompiledCondition, ...], variables: dict[str, Any]) -> bool:
    """True when every compiled condition holds for ``variables``."""
    for path, name, value in compiled:
        found = lookup(variables, path)
        if name == "exists":
            if found is _MISSING:
                return False
            continue
        if name == "not_exists":
            if found is not _MISSING:
                return False
            continue
        if not _COMPARE[name](None if found is _MISSING else found, value):
            return False
    return True


def check(conditions: Iterable[Condition], variables: dict[str, Any]) -> bool:
    return holds(compile_conditions(conditions), variables)


CompiledAction = tuple[str, tuple[str, ...], Any]


def compile_actions(actions: Iterable[Action]) -> tuple[CompiledAction, ...]:
    return tuple((a.type, tuple(a.key.split(".")), a.value) for a in actions)


def _parent(variables: dict[str, Any], path: tuple[str, ...], create: bool) -> dict[str, Any] | None:
    current = variables
    for part in path[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            if not create:
                return None
            child = current[part] = {}
        current = child
    return current


def apply(compiled: tuple[CompiledAction, ...], variables: dict[str, Any]) -> None:
    """Apply compiled actions to ``variables`` in place, in order."""
    for kind, path, value in compiled:
        if kind == "clear":
            parent = _parent(variables, path, create=False)
            if parent is not None:
                parent.pop(path[-1], None)
            continue
        parent = _parent(variables, path, create=True)
        assert parent is not None
        leaf = path[-1]
        if kind == "set":
            parent[leaf] = clone(value)
        elif kind == "increment" or kind == "decrement":
            current = parent.get(leaf)
            base = current if is_number(current) else 0
            amount = 1 if value is None else value
            parent[leaf] = base + amount if kind == "increment" else base - amount
        elif kind == "toggle":
            parent[leaf] = not parent.get(leaf)
        elif kind == "append":
            current = parent.get(leaf)
            parent[leaf] = (current if isinstance(current, list) else []) + [clone(value)]
        elif kind == "remove":
            current = parent.get(leaf)
            items = list(current) if isinstance(current, list) else []
            if value in items:
                items.remove(value)
            parent[leaf] = items
        else:  # pragma: no cover - the model's enum makes this unreachable
            raise ValueError(f"unknown action type {kind!r}")


def apply_actions(actions: Iterable[Action], variables: dict[str, Any]) -> None:
    apply(compile_actions(actions), variables)
