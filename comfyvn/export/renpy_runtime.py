"""The story logic an exported game runs: our runner's rules (``comfyvn.scenario.logic``) and PRNG
(``comfyvn.scenario.rng``, SplitMix64) ported to a Ren'Py ``init python`` block, so conditions,
actions and weighted random branches behave in Ren'Py exactly as in the runner.

State lives in Ren'Py ``default`` variables, so it is saved and rolled back: each story variable
``x`` is ``default v_x`` in the store (the prefix keeps story names clear of Ren'Py's own, such
as ``config``; dotted keys reach into dicts), the PRNG state is
``default cvn_rng = "<16 hex digits>"`` and the player's point of view ``default cvn_pov``.
A cleared top-level variable is recorded in ``default cvn_cleared`` (a store variable cannot be
deleted safely), so ``exists`` stays exact. Each scene starts as the runner starts it
(``cvn_begin``): its own variables, every other story variable missing, the PRNG at the seed.

``literal(value)`` writes JSON data as a Python literal the generated script can embed.
"""

from __future__ import annotations

import json
import math
from typing import Any

RUNTIME = '''\
# The story logic of comfyvn.scenario, ported: conditions, actions and the SplitMix64 PRNG.
init -100 python:
    _CVN_MASK = (1 << 64) - 1
    _CVN_MISSING = object()

    def cvn_is_number(value):
        return type(value) in (int, float)

    def cvn_clone(value):
        if isinstance(value, dict):
            return dict((k, cvn_clone(v)) for k, v in value.items())
        if isinstance(value, list):
            return [cvn_clone(v) for v in value]
        return value

    def cvn_lookup(path):
        if path[0] in store.cvn_cleared or not hasattr(store, "v_" + path[0]):
            return _CVN_MISSING
        current = getattr(store, "v_" + path[0])
        for part in path[1:]:
            if not isinstance(current, dict) or part not in current:
                return _CVN_MISSING
            current = current[part]
        return current

    def cvn_ordered(left, right):
        kinds = (type(left), type(right))
        if kinds[0] is str and kinds[1] is str:
            return True
        return kinds[0] in (int, float) and kinds[1] in (int, float)

    def cvn_compare(name, left, right):
        if name == "eq":
            return left == right
        if name == "neq":
            return left != right
        if name == "in":
            return left in right
        if name == "not_in":
            return left not in right
        if not cvn_ordered(left, right):
            return False
        if name == "gt":
            return left > right
        if name == "gte":
            return left >= right
        if name == "lt":
            return left < right
        return left <= right

    def cvn_holds(conditions):
        """conditions: ((path, operator, value), ...); every one must hold."""
        for path, name, value in conditions:
            found = cvn_lookup(path)
            if name == "exists":
                if found is _CVN_MISSING:
                    return False
                continue
            if name == "not_exists":
                if found is not _CVN_MISSING:
                    return False
                continue
            if not cvn_compare(name, None if found is _CVN_MISSING else found, value):
                return False
        return True

    def cvn_top(name, create):
        if name in store.cvn_cleared:
            if not create:
                return _CVN_MISSING
            store.cvn_cleared = store.cvn_cleared - set([name])
            setattr(store, "v_" + name, None)
        return getattr(store, "v_" + name, _CVN_MISSING)

    def cvn_parent(path, create):
        """The dict holding path[-1] (None for a top-level variable), or _CVN_MISSING."""
        if len(path) == 1:
            return None
        current = cvn_top(path[0], create)
        if not isinstance(current, dict):
            if not create:
                return _CVN_MISSING
            current = {}
            setattr(store, "v_" + path[0], current)
        for part in path[1:-1]:
            child = current.get(part)
            if not isinstance(child, dict):
                if not create:
                    return _CVN_MISSING
                child = current[part] = {}
            current = child
        return current

    def cvn_read(parent, path):
        if parent is None:
            value = cvn_top(path[0], False)
            return None if value is _CVN_MISSING else value
        return parent.get(path[-1])

    def cvn_write(parent, path, value):
        if parent is None:
            store.cvn_cleared = store.cvn_cleared - set([path[0]])
            setattr(store, "v_" + path[0], value)
        else:
            parent[path[-1]] = value

    def cvn_apply(actions):
        """actions: ((type, path, value), ...), applied in order."""
        for kind, path, value in actions:
            if kind == "clear":
                parent = cvn_parent(path, False)
                if parent is None:
                    store.cvn_cleared = store.cvn_cleared | set([path[0]])
                elif parent is not _CVN_MISSING:
                    parent.pop(path[-1], None)
                continue
            parent = cvn_parent(path, True)
            current = cvn_read(parent, path)
            if kind == "set":
                cvn_write(parent, path, cvn_clone(value))
            elif kind in ("increment", "decrement"):
                base = current if cvn_is_number(current) else 0
                amount = 1 if value is None else value
                cvn_write(parent, path, base + amount if kind == "increment" else base - amount)
            elif kind == "toggle":
                cvn_write(parent, path, not current)
            elif kind == "append":
                cvn_write(parent, path, (list(current) if isinstance(current, list) else []) + [cvn_clone(value)])
            elif kind == "remove":
                items = list(current) if isinstance(current, list) else []
                if value in items:
                    items.remove(value)
                cvn_write(parent, path, items)

    def cvn_next_u64():
        state = (int(store.cvn_rng, 16) + 0x9E3779B97F4A7C15) & _CVN_MASK
        store.cvn_rng = "%016x" % state
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _CVN_MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _CVN_MASK
        return z ^ (z >> 31)

    def cvn_random():
        return (cvn_next_u64() >> 11) / 9007199254740992.0

    def cvn_open(choice):
        """choice: (weight, visible_to, conditions)."""
        weight, visible_to, conditions = choice
        if not weight > 0:
            return False
        if visible_to and store.cvn_pov is not None and store.cvn_pov not in visible_to:
            return False
        return cvn_holds(conditions)

    def cvn_pick(choices):
        """The index of the weighted random pick among the open choices, or None (one PRNG draw)."""
        open_ones = [(index, choice[0]) for index, choice in enumerate(choices) if cvn_open(choice)]
        if not open_ones:
            return None
        total = 0.0
        for _, weight in open_ones:
            total += weight
        r = cvn_random() * total
        running = 0.0
        last = open_ones[0][0]
        for index, weight in open_ones:
            if weight <= 0:
                continue
            running += weight
            last = index
            if r < running:
                return index
        return last

    def cvn_any_open(choices):
        return any(cvn_open(choice) for choice in choices)

    def cvn_begin(values):
        """Enter a scene as the runner starts one: the scene's own variables and nothing else,
        the PRNG back at the export's seed."""
        for name in cvn_names:
            if name in values:
                setattr(store, "v_" + name, cvn_clone(values[name]))
        store.cvn_cleared = set(name for name in cvn_names if name not in values)
        store.cvn_rng = cvn_seed
'''


def literal(value: Any) -> str:
    """JSON data as a Python literal (``None``/``True``/``False``; floats exact via ``repr``)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("story values are finite numbers")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a valid Python string literal (\\uXXXX escapes included)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not JSON data: {type(value).__name__}")


def conditions_literal(conditions: Any) -> str:
    """``((path, operator, value), ...)`` for ``cvn_holds``."""
    items = [f"({tuple(c.key.split('.'))!r}, {c.operator!r}, {literal(c.value)})" for c in conditions]
    return "(" + "".join(item + ", " for item in items) + ")"


def actions_literal(actions: Any) -> str:
    """``((type, path, value), ...)`` for ``cvn_apply``."""
    items = [f"({a.type!r}, {tuple(a.key.split('.'))!r}, {literal(a.value)})" for a in actions]
    return "(" + "".join(item + ", " for item in items) + ")"


def choices_literal(choices: Any, aliases: Any = None) -> str:
    """``((weight, visible_to, conditions), ...)`` for ``cvn_pick`` / ``cvn_open``; ``aliases``
    (``Scene.pov_aliases``) names each cast member of ``visible_to`` both ways, as the runner does."""
    def visible(names: list[str]) -> tuple[str, ...]:
        return tuple(sorted(aliases(names))) if aliases is not None and names else tuple(names)

    items = [f"({float(c.weight)!r}, {visible(c.visible_to)!r}, {conditions_literal(c.conditions)})" for c in choices]
    return "(" + "".join(item + ", " for item in items) + ")"
