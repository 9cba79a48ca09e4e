"""/api/pov: active POV, candidates, forks and worldlines over HTTP, including bad input."""

from __future__ import annotations

import pytest

from tests.conftest import assert_envelope
from tests.pov.samples import node, scene

POV = "/api/pov"


def fork(client, **body):
    return client.post(f"{POV}/fork", json={"scene": scene(), "node": "fork", **body})


@pytest.fixture
def main(client):
    response = fork(client, id="main", name="Main line")
    assert response.status_code == 201, response.text
    return response.json()


# -- active POV ---------------------------------------------------------------------------------

def test_get_and_set_the_active_pov(client):
    assert client.get(f"{POV}/get").json() == {"project": "default", "pov": None, "worldline": None,
                                               "updated_at": None}
    answer = client.post(f"{POV}/set", json={"pov": "anyone"})  # no scene: not checked
    assert answer.status_code == 200 and answer.json()["pov"] == "anyone"
    answer = client.post(f"{POV}/set", json={"pov": "Bob", "scene": scene()})  # a display name -> the cast id
    assert answer.json()["pov"] == "bob"
    assert client.get(f"{POV}/get").json()["pov"] == "bob"
    assert client.post(f"{POV}/set", json={"pov": None}).json()["pov"] is None


def test_set_refuses_a_pov_the_scene_does_not_have(client):
    error = assert_envelope(client.post(f"{POV}/set", json={"pov": "Nobody", "scene": scene()}), 422, "unknown_pov")
    assert error["details"]["candidates"] == ["alice", "bob", "Carol"]
    assert client.get(f"{POV}/get").json()["pov"] is None
    assert_envelope(client.post(f"{POV}/set", json={}), 422)  # 'pov' is required (null clears)


@pytest.mark.parametrize("bad", ["", "../../x", "a/b", "a\\b", "x" * 129, "x" * 100_000, "tab\there", "nul\x00",
                                 "line\nbreak"])
def test_set_refuses_unusable_pov_names(client, bad):
    error = assert_envelope(client.post(f"{POV}/set", json={"pov": bad}), 422, "invalid_pov")
    assert "1-128 characters" in error["message"] and error["details"]["reason"]
    assert_envelope(client.post(f"{POV}/set", json={"pov": bad, "scene": scene()}), 422, "invalid_pov")
    assert client.get(f"{POV}/get").json()["pov"] is None


def test_set_accepts_any_other_pov_name(client):
    for name in ("x" * 128, "Zoë the 2nd", "a.b", "  spaced  "):
        answer = client.post(f"{POV}/set", json={"pov": name})
        assert answer.status_code == 200 and answer.json()["pov"] == name


def test_unknown_project_is_404(client):
    assert_envelope(client.get(f"{POV}/get", params={"project": "nope"}), 404)
    assert_envelope(client.get(f"{POV}/worlds", params={"project": "nope"}), 404)
    assert_envelope(client.get(f"{POV}/get", params={"project": "../etc"}), 422)


# -- candidates -----------------------------------------------------------------------------------

def test_candidates_from_inline_stored_and_worldline_scenes(client, main):
    inline = client.post(f"{POV}/candidates", json={"scene": scene()})
    assert inline.status_code == 200
    body = inline.json()
    assert body["scene_id"] == "harbor" and body["worldline"] is None
    assert [c["id"] for c in body["candidates"]] == ["alice", "bob", "Carol"]
    assert client.post("/api/scenes", json=scene()).status_code == 201
    stored = client.post(f"{POV}/candidates", json={"scene_id": "harbor"}).json()
    assert stored["candidates"] == body["candidates"]
    from_worldline = client.post(f"{POV}/candidates", json={"worldline": "main"}).json()
    assert from_worldline["worldline"] == "main" and from_worldline["candidates"] == body["candidates"]


def test_candidates_bad_input(client):
    assert_envelope(client.post(f"{POV}/candidates", json={}), 422, "invalid_input")
    assert_envelope(client.post(f"{POV}/candidates", json={"scene": scene(), "worldline": "x"}), 422)
    broken = scene()
    node(broken, "road")["next"] = "nowhere"
    error = assert_envelope(client.post(f"{POV}/candidates", json={"scene": broken}), 422, "invalid_scene")
    assert error["details"]["errors"][0]["path"] == "/nodes/4/next"
    assert_envelope(client.post(f"{POV}/candidates", json={"worldline": "ghost"}), 404)
    assert_envelope(client.post(f"{POV}/candidates", json={"scene_id": "ghost"}), 404)
    assert_envelope(client.post(f"{POV}/candidates", json={"scene": scene(), "typo": 1}), 422)


# -- fork -------------------------------------------------------------------------------------------

def test_fork_creates_a_worldline(client, main):
    assert main["id"] == "main" and main["name"] == "Main line"
    assert (main["parent"], main["fork_node"], main["scene_id"], main["pov"]) == (None, "fork", "harbor", None)
    assert main["base"] == main["scene"] and main["merges"] == []
    assert node(main["scene"], "boat")["text"] == "The boat rocks."
    child = client.post(f"{POV}/fork", json={"worldline": "main", "node": "boat", "pov": "Bob", "activate": True})
    assert child.status_code == 201, child.text
    child = child.json()
    assert (child["parent"], child["fork_node"], child["pov"]) == ("main", "boat", "bob")
    assert child["id"] == "harbor-bob-boat"  # made from scene, POV and node when no name or id is given
    assert client.get(f"{POV}/get").json() | {"updated_at": None} == {
        "project": "default", "pov": "bob", "worldline": "harbor-bob-boat", "updated_at": None}


def test_fork_bad_input(client, main):
    error = assert_envelope(fork(client, node="nowhere"), 404, "unknown_node")
    assert error["details"] == {"kind": "node", "id": "nowhere", "scene_id": "harbor"}
    assert_envelope(client.post(f"{POV}/fork", json={"worldline": "ghost", "node": "fork"}), 404)
    assert_envelope(fork(client, pov="Nobody"), 422, "unknown_pov")
    assert_envelope(fork(client, id="main"), 409)
    assert_envelope(fork(client, id="bad/id"), 422)
    assert_envelope(client.post(f"{POV}/fork", json={"scene": scene()}), 422)  # node is required
    assert [w["id"] for w in client.get(f"{POV}/worlds").json()["worldlines"]] == ["main"]


# -- worlds -----------------------------------------------------------------------------------------

def test_list_create_get_and_activate(client, main):
    created = client.post(f"{POV}/worlds", json={"scene": scene(), "name": "Alice's harbor", "pov": "alice"})
    assert created.status_code == 201, created.text
    created = created.json()
    assert created["id"] == "alice-s-harbor" and created["fork_node"] == "arrive"  # default: the start node
    again = client.post(f"{POV}/worlds", json={"scene": scene(), "name": "Alice's harbor"}).json()
    assert again["id"] == "alice-s-harbor-2"
    listing = client.get(f"{POV}/worlds").json()
    assert [w["id"] for w in listing["worldlines"]] == ["main", "alice-s-harbor", "alice-s-harbor-2"]
    assert "scene" not in listing["worldlines"][0] and listing["worldlines"][0]["nodes"] == 6
    assert client.get(f"{POV}/worlds/main").json() == main
    state = client.post(f"{POV}/worlds/alice-s-harbor/activate")
    assert state.status_code == 200 and (state.json()["worldline"], state.json()["pov"]) == ("alice-s-harbor", "alice")
    listing = client.get(f"{POV}/worlds").json()
    assert listing["active"] == "alice-s-harbor"
    assert [w["active"] for w in listing["worldlines"]] == [False, True, False]


def test_unknown_worldline_is_404_everywhere(client):
    assert_envelope(client.get(f"{POV}/worlds/ghost"), 404, "not_found")
    assert_envelope(client.patch(f"{POV}/worlds/ghost", json={"name": "x"}), 404)
    assert_envelope(client.put(f"{POV}/worlds/ghost", json={"name": "x"}), 404)
    assert_envelope(client.delete(f"{POV}/worlds/ghost"), 404)
    assert_envelope(client.post(f"{POV}/worlds/ghost/activate"), 404)


def test_update_name_pov_metadata(client, main):
    answer = client.patch(f"{POV}/worlds/main", json={"name": "Renamed", "pov": "Alice", "metadata": {"tag": 1}})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["pov"], answer.json()["metadata"]) == ("Renamed", "alice", {"tag": 1})
    assert client.put(f"{POV}/worlds/main", json={"pov": None}).json()["pov"] is None
    assert_envelope(client.patch(f"{POV}/worlds/main", json={"pov": "Nobody"}), 422, "unknown_pov")
    assert_envelope(client.patch(f"{POV}/worlds/main", json={}), 422)
    assert_envelope(client.patch(f"{POV}/worlds/main", json={"colour": "red"}), 422)
    assert client.get(f"{POV}/worlds/main").json()["name"] == "Renamed"


def test_scene_edits_upsert_and_remove_nodes(client, main):
    edit = client.patch(f"{POV}/worlds/main", json={
        "nodes": [{"id": "boat", "pov": "bob", "text": "The boat sinks.", "end": True},
                  {"id": "road", "text": "A long road.", "next": "shore"},
                  {"id": "shore", "text": "Sand.", "end": True}],
        "remove_nodes": ["home"]})
    assert edit.status_code == 200, edit.text
    edited = edit.json()["scene"]
    assert [n["id"] for n in edited["nodes"]] == ["arrive", "fork", "boat", "pier", "road", "shore"]
    assert node(edited, "boat")["text"] == "The boat sinks." and node(edited, "road")["next"] == "shore"
    assert edit.json()["base"] == main["base"]  # the base stays the fork point
    assert client.get(f"{POV}/worlds/main").json()["scene"] == edited


def test_invalid_scene_edit_is_422_with_errors_and_writes_nothing(client, main):
    broken = client.patch(f"{POV}/worlds/main", json={"remove_nodes": ["pier"]})
    error = assert_envelope(broken, 422, "invalid_scene")
    assert {"path": "/nodes/1/choices/1/target", "code": "unknown_target"}.items() <= error["details"]["errors"][0].items()
    whole = scene()
    whole["nodes"][0]["type"] = "sideways"
    error = assert_envelope(client.put(f"{POV}/worlds/main", json={"scene": whole}), 422, "invalid_scene")
    assert error["details"]["errors"][0]["path"] == "/nodes/0/type"
    renamed = dict(scene(), id="another")
    assert_envelope(client.patch(f"{POV}/worlds/main", json={"scene": renamed}), 422, "scene_id_changed")
    assert_envelope(client.patch(f"{POV}/worlds/main", json={"remove_nodes": ["ghost"]}), 422, "unknown_node")
    assert client.get(f"{POV}/worlds/main").json() == main


def test_delete(client, main):
    client.post(f"{POV}/fork", json={"worldline": "main", "node": "fork", "id": "child"})
    client.post(f"{POV}/worlds/main/activate")
    error = assert_envelope(client.delete(f"{POV}/worlds/main"), 409)
    assert error["details"]["children"] == ["child"]
    assert client.delete(f"{POV}/worlds/child").json()["deleted"] == "child"
    assert client.delete(f"{POV}/worlds/main").status_code == 200
    assert client.get(f"{POV}/get").json()["worldline"] is None
    assert client.get(f"{POV}/worlds").json()["worldlines"] == []


def test_projects_are_separate(client):
    assert client.post("/api/projects", json={"id": "second"}).status_code == 201
    answer = client.post(f"{POV}/fork", json={"project": "second", "scene": scene(), "node": "fork", "id": "w"})
    assert answer.status_code == 201
    assert [w["id"] for w in client.get(f"{POV}/worlds", params={"project": "second"}).json()["worldlines"]] == ["w"]
    assert client.get(f"{POV}/worlds").json()["worldlines"] == []
    assert_envelope(client.get(f"{POV}/worlds/w"), 404)
    assert client.get(f"{POV}/worlds/w", params={"project": "second"}).status_code == 200
