"""Valid and broken records of each kind, shared by the projects tests."""

from __future__ import annotations

SCENE = {
    "id": "intro", "title": "Intro", "start": "a",
    "nodes": [{"id": "a", "speaker": "Alice", "text": "Hello.", "next": "b"}, {"id": "b", "type": "end"}],
}

# kind -> (url segment, a valid record, its label field, a body with a wrong type)
KINDS = {
    "scene": ("scenes", SCENE, "title", {"id": "intro", "start": "a", "nodes": "not a list"}),
    "character": ("characters", {"id": "alice", "name": "Alice", "color": "#aa3355"}, "name",
                  {"id": "alice", "name": 5}),
    "timeline": ("timelines", {"id": "main", "title": "Main", "scenes": []}, "title",
                 {"id": "main", "scenes": "intro"}),
    "world": ("worlds", {"id": "earth", "name": "Earth", "entries": [{"keys": ["moon"], "content": "Big moon."}]},
              "name", {"id": "earth", "name": "Earth", "entries": [{"keys": "moon"}]}),
}
