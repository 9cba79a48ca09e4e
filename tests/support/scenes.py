"""Scenes for tests: a hand-written branching sample and a hypothesis strategy of valid scenes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def sample_scene() -> dict[str, Any]:
    """A small branching scene: a menu, a conditional choice, a random branch, a POV-only choice."""
    return {
        "id": "sample",
        "title": "Sample",
        "start": "intro",
        "variables": {"trust": 0, "flags": {"met": False}, "items": []},
        "cast": [{"id": "mira", "name": "Mira"}, {"id": "you", "name": "You", "role": "user"}],
        "nodes": [
            {"id": "intro", "type": "choice", "speaker": "mira", "text": "Hello!",
             "actions": [{"type": "set", "key": "flags.met", "value": True}],
             "choices": [
                 {"id": "kind", "label": "Be kind", "target": "coin",
                  "actions": [{"type": "increment", "key": "trust", "value": 2}]},
                 {"id": "rude", "label": "Be rude", "target": "coin", "weight": 3,
                  "actions": [{"type": "decrement", "key": "trust"}]},
                 {"id": "secret", "label": "Whisper", "target": "good", "visible_to": ["you"]},
             ]},
            {"id": "coin", "type": "random", "text": "Fate decides.",
             "choices": [
                 {"id": "heads", "target": "check", "weight": 1,
                  "actions": [{"type": "append", "key": "items", "value": "coin"}]},
                 {"id": "tails", "target": "check", "weight": 1},
             ]},
            {"id": "check", "type": "choice", "text": "Well?",
             "choices": [
                 {"id": "trusting", "label": "Trust", "target": "good",
                  "conditions": [{"key": "trust", "operator": "gt", "value": 0}]},
                 {"id": "doubt", "label": "Doubt", "target": "bad",
                  "conditions": [{"key": "trust", "operator": "lte", "value": 0}]},
             ]},
            {"id": "good", "speaker": "mira", "text": "Friends!", "end": True},
            {"id": "bad", "speaker": "mira", "text": "Goodbye.", "end": True},
        ],
    }


_KEYS = ["a", "b", "c.d"]
_conditions = st.builds(
    lambda key, op, value: {"key": key, "operator": op, "value": value},
    st.sampled_from(_KEYS), st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]), st.integers(-3, 3),
)
_actions = st.builds(
    lambda kind, key, value: {"type": kind, "key": key, **({"value": value} if kind != "toggle" else {})},
    st.sampled_from(["set", "increment", "decrement", "toggle"]), st.sampled_from(_KEYS), st.integers(-2, 2),
)


@st.composite
def scenes(draw: st.DrawFn, max_nodes: int = 8) -> dict[str, Any]:
    """Valid scenes: every node can reach the final end node, choices carry random weights,
    conditions and actions over declared variables."""
    count = draw(st.integers(2, max_nodes))
    ids = [f"n{i}" for i in range(count)]
    nodes = []
    for i, node_id in enumerate(ids[:-1]):
        node: dict[str, Any] = {"id": node_id, "text": f"line {i}", "next": ids[i + 1],
                                "actions": draw(st.lists(_actions, max_size=2))}
        choices = []
        for j in range(draw(st.integers(0, 3))):
            choices.append({
                "id": f"{node_id}_c{j}", "label": f"choice {j}", "target": draw(st.sampled_from(ids)),
                "weight": draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                "conditions": draw(st.lists(_conditions, max_size=1)),
                "actions": draw(st.lists(_actions, max_size=2)),
                "visible_to": draw(st.sampled_from([[], ["alice"], ["bob"]])),
            })
        if choices:
            node["choices"] = choices
            node["type"] = "choice"
        nodes.append(node)
    nodes.append({"id": ids[-1], "text": "the end", "end": True})
    return {"id": "generated", "start": "n0", "nodes": nodes, "variables": {"a": 0, "b": 1, "c": {"d": 0}}}
