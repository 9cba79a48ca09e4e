"""The story logic written into exported games (``renpy_runtime.RUNTIME``) behaves exactly like the
runner's (``comfyvn.scenario.logic`` and ``rng``): the Ren'Py block is run here in plain Python
against a stand-in store and compared with the originals on random variables, conditions,
actions and weighted picks."""

from __future__ import annotations

import textwrap
import types

from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.export.renpy_runtime import RUNTIME, actions_literal, choices_literal, conditions_literal
from comfyvn.scenario import logic
from comfyvn.scenario.models import Action, Choice, Condition
from comfyvn.scenario.rng import StoryRandom


def runtime(variables: dict, rng_state: str = "0" * 16, pov: str | None = None):
    """The runtime's functions bound to a store holding ``variables`` (as ``v_<name>``)."""
    body = RUNTIME.split("init -100 python:\n", 1)[1]
    store = types.SimpleNamespace(cvn_cleared=set(), cvn_rng=rng_state, cvn_pov=pov)
    for name, value in variables.items():
        setattr(store, "v_" + name, logic.clone(value))
    namespace = {"store": store}
    exec(compile(textwrap.dedent(body), "cvn_runtime", "exec"), namespace)
    return namespace, store


def store_vars(store, names) -> dict:
    out = {}
    for name in names:
        if name not in store.cvn_cleared and hasattr(store, "v_" + name):
            out[name] = getattr(store, "v_" + name)
    return out


NAMES = st.sampled_from(["a", "b", "c"])
KEYS = st.one_of(NAMES, st.tuples(NAMES, st.sampled_from(["x", "y"])).map(".".join))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
                    st.sampled_from(["", "a", "b"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(["x", "y"]), SCALARS,
                                                                           max_size=2))
OPERATORS = st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"])
ACTION_TYPES = st.sampled_from(["set", "increment", "decrement", "toggle", "append", "remove", "clear"])


@st.composite
def conditions(draw):
    operator = draw(OPERATORS)
    value = draw(st.lists(SCALARS, max_size=3)) if operator in ("in", "not_in") else draw(SCALARS)
    return Condition(key=draw(KEYS), operator=operator, value=value)


@st.composite
def actions(draw):
    kind = draw(ACTION_TYPES)
    value = draw(st.one_of(st.none(), st.integers(-3, 3))) if kind in ("increment", "decrement") else draw(VALUES)
    return Action(type=kind, key=draw(KEYS), value=value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, VALUES, max_size=3), st.lists(actions(), max_size=6), st.lists(conditions(), max_size=4))
def test_actions_and_conditions_match_the_runner(variables, action_list, condition_list):
    expected = logic.clone(variables)
    logic.apply_actions(action_list, expected)
    namespace, store = runtime(variables)
    namespace["cvn_apply"](eval(actions_literal(action_list)))
    assert store_vars(store, ["a", "b", "c"]) == expected
    assert namespace["cvn_holds"](eval(conditions_literal(condition_list))) == logic.check(condition_list, expected)


WEIGHTS = st.one_of(st.sampled_from([0.0, 1.0, 2.5]), st.floats(0, 5, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.lists(st.tuples(WEIGHTS, st.booleans()), min_size=1, max_size=5),
       st.sampled_from([None, "you", "mira"]))
def test_weighted_picks_match_the_runner(seed, spec, pov):
    choices = [Choice(id=f"c{n}", target="t", weight=weight, visible_to=["you"] if hidden else [])
               for n, (weight, hidden) in enumerate(spec)]
    state = StoryRandom(seed).state
    namespace, store = runtime({}, state, pov)
    picked = namespace["cvn_pick"](eval(choices_literal(choices)))
    open_ones = [(n, c) for n, c in enumerate(choices)
                 if c.weight > 0 and not (c.visible_to and pov is not None and pov not in c.visible_to)]
    if not open_ones:
        assert picked is None and store.cvn_rng == state  # no draw without an open choice
        return
    rng = StoryRandom.from_state(state)
    expected = open_ones[rng.weighted_index([c.weight for _, c in open_ones])][0]
    assert picked == expected and store.cvn_rng == rng.state
