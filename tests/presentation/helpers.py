"""Small builders for presentation tests."""

from __future__ import annotations

from typing import Any

from comfyvn.scenario.models import Scene, parse_scene


def say(speaker: str, text: str = "...", **extra: Any) -> dict[str, Any]:
    return {"kind": "say", "speaker": speaker, "text": text, **extra}


def make_scene(nodes: list[dict[str, Any]], cast: list[dict[str, Any]] | None = None,
               start: str | None = None) -> Scene:
    data: dict[str, Any] = {"id": "scene1", "start": start or nodes[0]["id"], "nodes": nodes}
    if cast is not None:
        data["cast"] = cast
    return parse_scene(data)


def one_node(beats: list[dict[str, Any]], cast: list[dict[str, Any]] | None = None) -> Scene:
    return make_scene([{"id": "n", "beats": beats, "end": True}], cast)


def layout(stage: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """(id, position, xalign) left to right."""
    return [(c["id"], c["position"], c["xalign"]) for c in stage["characters"]]


CAST = [
    {"id": "alice", "name": "Alice", "default_expression": "smile"},
    {"id": "bob", "name": "Bob"},
    {"id": "cara", "name": "Cara"},
    {"id": "dan", "name": "Dan"},
    {"id": "eve", "name": "Eve"},
    {"id": "finn", "name": "Finn"},
    {"id": "me", "name": "Me", "role": "user"},
    {"id": "nar", "name": "Narrator", "role": "narrator"},
]
