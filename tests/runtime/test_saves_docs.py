"""docs/saves.md tells the truth: its curl walk-through, run against the example scene of
docs/scenario.md, answers what the page says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import assert_envelope

DOCS = Path(__file__).resolve().parents[2] / "docs"


def example_scene() -> dict:
    text = (DOCS / "scenario.md").read_text(encoding="utf-8")
    return json.loads(re.search(r"### Example\n\n```json\n(.*?)\n```", text, re.DOTALL).group(1))


def saves_page() -> str:
    return (DOCS / "saves.md").read_text(encoding="utf-8")


def first_save_body() -> dict:
    """The body of the first curl example (``POST /api/save/slot1``)."""
    found = re.search(r"curl -s -X POST http://127\.0\.0\.1:8001/api/save/slot1 .*?-d '(\{.*?\})'", saves_page(), re.DOTALL)
    assert found, "docs/saves.md lost its first curl example"
    return json.loads(found.group(1))


def file_format_example() -> dict:
    return json.loads(re.search(r"## The file format\n\n```json\n(.*?)\n```", saves_page(), re.DOTALL).group(1))


def test_the_examples_name_real_nodes_of_the_example_scene():
    nodes = {n["id"] for n in example_scene()["nodes"]}
    assert first_save_body()["node_pointer"] in nodes
    assert file_format_example()["node_pointer"] in nodes
    state = re.search(r'\{"state": \{"scene_id": "cafe_meeting", "seed": 42, "node": "(\w+)"', saves_page())
    assert state and state.group(1) in nodes


def test_the_curl_walk_through_answers_what_the_page_says(client):
    assert client.post("/api/scenes", json=example_scene()).status_code == 201
    saved = client.post("/api/save/slot1", json=first_save_body())
    assert saved.status_code == 200, saved.text
    assert saved.json()["created"] is True and saved.json()["save"]["scene_digest"].startswith("sha256:")
    stored = client.get("/api/save/slot1").json()
    assert set(stored) == set(file_format_example())  # the documented fields, no more, no less
    assert [s["slot"] for s in client.get("/api/save/list").json()["saves"]] == ["slot1"]
    resumed = client.post("/api/save/slot1/resume", json={})
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert (body["slot"], body["scene_changed"], body["finished"]) == ("slot1", False, False)
    assert body["node"]["id"] == first_save_body()["node_pointer"]
    step = client.post("/api/scenario/run/step", json={"scene_id": "cafe_meeting", "state": body["state"]})
    assert step.status_code == 200 and step.json()["node"]["id"] == "talk"
    error = assert_envelope(client.post("/api/save/..%2Fetc", json={}), 422, "invalid_slot")
    assert error["message"].startswith("invalid slot name '../etc': a slot names one file")
    # the save_stale example: the saved node was removed from the stored scene
    edited = example_scene()
    edited["nodes"] = [n for n in edited["nodes"] if n["id"] != "counter"]
    edited["nodes"][0]["choices"] = [c for c in edited["nodes"][0]["choices"] if c["id"] != "order"]
    assert client.put("/api/scenes/cafe_meeting", json=edited).status_code == 200
    error = assert_envelope(client.post("/api/save/slot1/resume", json={}), 409, "save_stale")
    assert error["message"].startswith("save 'slot1' stands on node 'counter', which scene 'cafe_meeting' no longer has")
    assert client.delete("/api/save/slot1").json() == {"slot": "slot1", "deleted": True}
