"""POST /api/pov/render/switch: portraits of the POV's cast, cached by (character, style, pose)."""

from __future__ import annotations

import pytest

from comfyvn.assets.registry import registry
from comfyvn.characters import pov_portraits
from tests.characters.test_poses import STANDING
from tests.conftest import assert_envelope
from tests.pov.samples import scene

SWITCH = "/api/pov/render/switch"



@pytest.fixture
def cast(client):
    for body in ({"id": "alice", "name": "Alice", "style": "ink", "expressions": ["neutral", "joy"],
                  "default_expression": "joy"},
                 {"id": "bob", "name": "Bob"},
                 {"id": "zed", "name": "Zed"}):
        assert client.post("/api/characters", json=body).status_code == 201
    return ["alice", "bob", "zed"]


def portraits() -> int:
    return registry("default").query(type="character.portrait")["total"]


def test_second_switch_is_served_from_the_cache(client, cast, monkeypatch):
    assert_envelope(client.post(SWITCH, json={"provider": "builtin"}), 422, "no_active_pov")
    client.post("/api/pov/set", json={"pov": "bob"})
    first = client.post(SWITCH, json={"provider": "builtin"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["pov"] == "bob" and body["source"] == "project"
    assert [p["character"] for p in body["portraits"]] == ["bob", "alice", "zed"]  # the POV first
    assert not any(p["cached"] for p in body["portraits"])
    alice = body["portraits"][1]
    assert alice["path"].startswith("characters/alice/ink/portrait-joy-") and alice["style"] == "ink"
    assert portraits() == 3

    def no_render(*args, **kwargs):
        raise AssertionError("a cached portrait was rendered again")

    monkeypatch.setattr("comfyvn.render.service.render_portrait", no_render)
    second = client.post(SWITCH, json={"provider": "builtin"}).json()
    assert all(p["cached"] for p in second["portraits"])
    assert [p["uid"] for p in second["portraits"]] == [p["uid"] for p in body["portraits"]]
    assert portraits() == 3


def test_style_and_pose_are_part_of_the_key(client, cast):
    client.post("/api/poses", json={"id": "standing", "keypoints": STANDING})
    plain = client.post(SWITCH, json={"pov": "alice", "provider": "builtin"}).json()
    styled = client.post(SWITCH, json={"pov": "alice", "style": "noir", "provider": "builtin"}).json()
    assert not any(p["cached"] for p in styled["portraits"])
    # the built-in renderer ignores style: the same picture, so the same asset, tagged for the new key
    assert [p["uid"] for p in styled["portraits"]] == [p["uid"] for p in plain["portraits"]]
    assert "style-noir" in registry("default").get(styled["portraits"][0]["uid"])["tags"]
    assert all(p["cached"] for p in client.post(SWITCH, json={"pov": "alice", "style": "noir",
                                                              "provider": "builtin"}).json()["portraits"])
    posed = client.post(SWITCH, json={"pov": "alice", "pose": "standing", "provider": "builtin"}).json()
    assert not any(p["cached"] for p in posed["portraits"])
    tagged = registry("default").get(posed["portraits"][0]["uid"])
    assert "pose-standing" in tagged["tags"]
    again = client.post(SWITCH, json={"pov": "alice", "pose": "standing", "provider": "builtin"}).json()
    assert all(p["cached"] for p in again["portraits"])
    assert client.post(SWITCH, json={"pov": "alice", "provider": "builtin"}).json()["portraits"][0]["uid"] == \
        plain["portraits"][0]["uid"]
    assert_envelope(client.post(SWITCH, json={"pov": "alice", "pose": "ghost"}), 404)
    assert_envelope(client.post(SWITCH, json={"pov": "alice", "provider": "nope"}), 422)
    assert_envelope(client.post(SWITCH, json={"pov": "alice", "project": "../x"}), 422)


def test_an_active_worldline_gives_its_scene_cast(client, cast):
    data = scene()
    data["cast"].append({"id": "carol", "name": "Carol"})
    assert client.post("/api/scenes", json=data).status_code == 201
    forked = client.post("/api/pov/fork", json={"scene_id": "harbor", "node": "arrive", "pov": "Alice",
                                                "id": "main", "activate": True})
    assert forked.status_code in (200, 201), forked.text
    who = pov_portraits.cast("default")
    assert who["source"] == "worldline" and who["worldline"] == "main"
    assert who["pov"] == "alice" and who["characters"] == ["alice", "bob"]  # narrator left out; no zed
    assert who["skipped"] == [{"id": "carol", "reason": "no character record in the project"}]
    body = client.post(SWITCH, json={"provider": "builtin"}).json()
    assert [p["character"] for p in body["portraits"]] == ["alice", "bob"] and body["skipped"] == who["skipped"]
