"""POST /api/presentation/plan over HTTP, including bad input."""

from __future__ import annotations

from tests.conftest import assert_envelope
from tests.presentation.helpers import CAST

URL = "/api/presentation/plan"

SCENE = {
    "id": "cafe",
    "start": "meet",
    "cast": CAST,
    "nodes": [
        {"id": "meet", "beats": [
            {"kind": "background", "image": "cafe", "transition": {"style": "fade"}},
            {"kind": "say", "speaker": "alice", "text": "Hi!", "id": "l1"},
            {"kind": "say", "speaker": "bob", "text": "Hey.", "expression": "grin", "id": "l2"},
        ], "next": "leave"},
        {"id": "leave", "beats": [{"kind": "hide", "character": "alice", "id": "l3"}], "end": True},
    ],
}


def test_plan_of_an_inline_scene(client):
    response = client.post(URL, json={"scene": SCENE})
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["scene_id"] == "cafe" and [n["id"] for n in plan["nodes"]] == ["meet", "leave"]
    last = plan["nodes"][0]["frames"][-1]
    assert last["beat"] == "l2"
    assert [(c["id"], c["position"], c["xalign"], c["expression"]) for c in last["stage"]["characters"]] == [
        ("alice", "left", 0.3, "smile"), ("bob", "right", 0.7, "grin")]
    leave = plan["nodes"][1]
    assert leave["entry"] == last["stage"]
    assert [(c["id"], c["position"]) for c in leave["frames"][0]["stage"]["characters"]] == [("bob", "center")]


def test_plan_of_one_node(client):
    response = client.post(URL, json={"scene": SCENE, "node_id": "leave"})
    assert response.status_code == 200, response.text
    nodes = response.json()["nodes"]
    assert [n["id"] for n in nodes] == ["leave"]
    assert nodes[0]["entry"]["background"]["image"] == "cafe"


def test_same_request_same_bytes(client):
    first = client.post(URL, json={"scene": SCENE}).content
    assert client.post(URL, json={"scene": SCENE}).content == first


def test_invalid_scene_lists_its_errors(client):
    bad = {**SCENE, "nodes": [{**SCENE["nodes"][0], "next": "missing"}, SCENE["nodes"][1]]}
    error = assert_envelope(client.post(URL, json={"scene": bad}), 422, "invalid_scene")
    assert any(e["path"] == "/nodes/0/next" for e in error["details"]["errors"])
    wrong_type = assert_envelope(client.post(URL, json={"scene": {"id": "x", "start": 3, "nodes": []}}), 422,
                                 "invalid_scene")
    assert len(wrong_type["details"]["errors"]) >= 2


def test_unknown_node_id(client):
    error = assert_envelope(client.post(URL, json={"scene": SCENE, "node_id": "nowhere"}), 422, "unknown_node")
    assert "nowhere" in error["message"] and "meet" in error["message"]
    assert error["details"]["node_id"] == "nowhere"


def test_scene_or_scene_id_is_required_but_not_both(client):
    error = assert_envelope(client.post(URL, json={}), 422)
    assert "scene_id" in error["message"]
    assert_envelope(client.post(URL, json={"scene": SCENE, "scene_id": "cafe"}), 422)


def test_malformed_bodies(client):
    assert_envelope(client.post(URL, json={"scene": SCENE, "nodeid": "meet"}), 422)  # typo'd field
    assert_envelope(client.post(URL, json={"scene": "cafe"}), 422)
    assert_envelope(client.post(URL, content=b"{not json", headers={"content-type": "application/json"}), 422)


def test_plan_of_a_stored_scene(client):
    created = client.post("/api/scenes", json=SCENE)
    assert created.status_code == 201, created.text
    stored = client.post(URL, json={"scene_id": "cafe"})
    assert stored.status_code == 200, stored.text
    assert stored.json() == client.post(URL, json={"scene": SCENE}).json()
    error = assert_envelope(client.post(URL, json={"scene_id": "nothing"}), 404, "not_found")
    assert "nothing" in error["message"]
