"""Scenes the POV and diff/merge tests share. Each call returns a fresh copy to edit."""

from __future__ import annotations

import copy
from typing import Any

from comfyvn.scenario.models import parse_scene

_SCENE: dict[str, Any] = {
    "id": "harbor",
    "title": "The harbor",
    "start": "arrive",
    "variables": {"trust": 0},
    "cast": [
        {"id": "alice", "name": "Alice"},
        {"id": "bob", "name": "Bob", "role": "user"},
        {"id": "narr", "name": "Narrator", "role": "narrator"},
    ],
    "nodes": [
        {"id": "arrive", "speaker": "Alice", "text": "You came.", "next": "fork",
         "beats": [{"kind": "say", "speaker": "bob", "text": "I did."},
                   {"kind": "say", "speaker": "Narrator", "text": "The tide turns."}]},
        {"id": "fork", "type": "choice", "pov": "bob", "choices": [
            {"id": "follow", "label": "Follow her", "target": "boat", "visible_to": ["bob"]},
            {"id": "stay", "label": "Stay", "target": "pier", "visible_to": ["Alice"]},
            {"id": "leave", "label": "Leave", "target": "road"},
        ]},
        {"id": "boat", "pov": "bob", "text": "The boat rocks.", "end": True},
        {"id": "pier", "pov": "alice", "speaker": "Carol", "text": "Wait here.", "end": True},
        {"id": "road", "text": "A long road.", "next": "home"},
        {"id": "home", "text": "Home.", "end": True},
    ],
}


def scene() -> dict[str, Any]:
    return copy.deepcopy(_SCENE)


def canon(data: dict[str, Any]) -> dict[str, Any]:
    """The canonical JSON form, as worldlines store it."""
    return parse_scene(data).to_json()


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def edited(data: dict[str, Any], node_id: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``data`` with fields of one node changed."""
    out = copy.deepcopy(data)
    node(out, node_id).update(changes)
    return out


def without(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["nodes"] = [n for n in out["nodes"] if n["id"] != node_id]
    return out
