"""Scenes the saves tests share."""

from __future__ import annotations

import copy
from typing import Any

_BRANCHY: dict[str, Any] = {
    "id": "cafe",
    "title": "Cafe",
    "start": "arrive",
    "variables": {"trust": 0},
    "nodes": [
        {"id": "arrive", "speaker": "Mira", "text": "Hi!", "next": "order"},
        {"id": "order", "type": "random", "text": "What will it be?", "choices": [
            {"id": "tea", "label": "Tea", "target": "chat", "weight": 1,
             "actions": [{"type": "increment", "key": "trust", "value": 1}]},
            {"id": "coffee", "label": "Coffee", "target": "chat", "weight": 2,
             "actions": [{"type": "increment", "key": "trust", "value": 2}]},
            {"id": "leave", "label": "Leave", "target": "bye", "weight": 1},
        ]},
        {"id": "chat", "text": "They talk.", "choices": [
            {"id": "again", "label": "Another round", "target": "order", "weight": 3},
            {"id": "done", "label": "Done", "target": "bye", "weight": 1},
        ]},
        {"id": "bye", "text": "Bye.", "end": True},
    ],
}


def branchy() -> dict[str, Any]:
    """A small scene with weighted random picks and a loop, so runs depend on the PRNG."""
    return copy.deepcopy(_BRANCHY)


def without_node(scene: dict[str, Any], node_id: str, redirect: str) -> dict[str, Any]:
    """``scene`` with ``node_id`` removed and every reference to it pointed at ``redirect``."""
    edited = copy.deepcopy(scene)
    edited["nodes"] = [n for n in edited["nodes"] if n["id"] != node_id]
    for node in edited["nodes"]:
        if node.get("next") == node_id:
            node["next"] = redirect
        for choice in node.get("choices", []):
            if choice["target"] == node_id:
                choice["target"] = redirect
    return edited
