"""/api/diffmerge (flag enable_diffmerge_tools): scene diffs with POV masks, the worldline graph and
merges over HTTP, with their hook-bus events."""

from __future__ import annotations

import pytest

from comfyvn.config import feature_flags
from comfyvn.core import modder_hooks
from tests.conftest import assert_envelope
from tests.pov.samples import edited, node, scene, without

DM = "/api/diffmerge"
FLAG = "enable_diffmerge_tools"


@pytest.fixture
def tools(client):
    feature_flags.set_enabled(FLAG, True)
    return client


def payloads(event):
    return [e["payload"] for e in modder_hooks.history(event=event)]


def make_worldline(client, **body):
    answer = client.post("/api/pov/fork", json={"node": "fork", **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def edit(client, worldline_id, node_id, **changes):
    current = client.get(f"/api/pov/worlds/{worldline_id}").json()["scene"]
    answer = client.patch(f"/api/pov/worlds/{worldline_id}", json={"scene": edited(current, node_id, **changes)})
    assert answer.status_code == 200, answer.text


def test_flag_is_off_by_default(client):
    assert feature_flags.declared()[FLAG].default is False and feature_flags.declared()[FLAG].owner == "diffmerge"
    for method, path, body in (("POST", "/scene", {"source": {"scene": scene()}, "target": {"scene": scene()}}),
                               ("GET", "/worldlines/graph", None),
                               ("POST", "/worldlines/merge", {"source": "x", "dry_run": True})):
        error = assert_envelope(client.request(method, DM + path, json=body), 403, "feature_disabled")
        assert error["details"] == {"flag": FLAG}
    assert payloads("on_worldline_*") == []


# -- scene diff -------------------------------------------------------------------------------------

def test_diff_inline_scenes_and_event(tools):
    after = edited(without(scene(), "pier"), "fork", choices=[{"id": "leave", "target": "road"}])
    answer = tools.post(f"{DM}/scene", json={"source": {"scene": scene()}, "target": {"scene": after}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["source"], body["target"]) == ("inline:harbor", "inline:harbor")
    assert body["removed"] == ["pier"] and [c["id"] for c in body["changed"]] == ["fork"]
    assert body["changed"][0]["choices"]["removed"] == ["follow", "stay"]
    assert payloads("on_worldline_diff") == [{"project": "default", "source": "inline:harbor",
                                              "target": "inline:harbor", "added": 0, "removed": 1, "changed": 1}]


def test_diff_with_mask_pov(tools):
    after = edited(scene(), "pier", text="Changed for Alice only.")
    body = {"source": {"scene": scene()}, "target": {"scene": after}}
    bob = tools.post(f"{DM}/scene", json={**body, "mask_pov": "bob"}).json()
    assert bob["identical"] is True and bob["mask_pov"] == "bob" and bob["hidden"] == {"source": 1, "target": 1}
    alice = tools.post(f"{DM}/scene", json={**body, "mask_pov": "Alice"}).json()
    assert [c["id"] for c in alice["changed"]] == ["pier"]
    assert [p["changed"] for p in payloads("on_worldline_diff")] == [0, 1]


def test_diff_worldline_against_its_base_and_a_stored_scene(tools):
    assert tools.post("/api/scenes", json=scene()).status_code == 201
    make_worldline(tools, scene_id="harbor", id="w")
    edit(tools, "w", "boat", text="The boat sinks.")
    since_fork = tools.post(f"{DM}/scene", json={"source": {"worldline": "w", "version": "base"},
                                                  "target": {"worldline": "w"}}).json()
    assert (since_fork["source"], since_fork["target"]) == ("w@base", "w")
    assert [c["id"] for c in since_fork["changed"]] == ["boat"]
    vs_stored = tools.post(f"{DM}/scene", json={"source": {"scene_id": "harbor"}, "target": {"worldline": "w"}})
    assert vs_stored.json()["source"] == "scene:harbor" and vs_stored.json()["counts"]["changed"] == 1


def test_diff_bad_input(tools):
    good = {"scene": scene()}
    assert_envelope(tools.post(f"{DM}/scene", json={"source": good}), 422)
    assert_envelope(tools.post(f"{DM}/scene", json={"source": {}, "target": good}), 422, "invalid_input")
    assert_envelope(tools.post(f"{DM}/scene", json={"source": {**good, "worldline": "w"}, "target": good}), 422)
    assert_envelope(tools.post(f"{DM}/scene", json={"source": {**good, "version": "base"}, "target": good}), 422)
    assert_envelope(tools.post(f"{DM}/scene", json={"source": {"worldline": "ghost"}, "target": good}), 404)
    assert_envelope(tools.post(f"{DM}/scene", json={"source": {"scene_id": "ghost"}, "target": good}), 404)
    broken = without(scene(), "home")
    error = assert_envelope(tools.post(f"{DM}/scene", json={"source": good, "target": {"scene": broken}}), 422,
                            "invalid_scene")
    assert error["details"]["errors"]
    assert payloads("on_worldline_diff") == []


# -- graph ------------------------------------------------------------------------------------------

def test_graph_of_worldlines(tools):
    assert tools.post("/api/scenes", json=scene()).status_code == 201
    make_worldline(tools, scene_id="harbor", id="main")
    make_worldline(tools, worldline="main", id="side", node="boat")
    make_worldline(tools, scene=dict(scene(), id="loose"), id="loose-w")
    edit(tools, "side", "boat", text="Side boat.")
    edit(tools, "main", "road", text="Main road.")
    tools.post("/api/pov/worlds/side/activate")
    graph = tools.get(f"{DM}/worldlines/graph").json()
    assert graph["active"] == "side"
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert [n["id"] for n in graph["nodes"]] == ["scene:harbor", "scene:loose", "main", "side", "loose-w"]
    assert nodes["scene:harbor"]["stored"] is True and nodes["scene:loose"]["stored"] is False
    side, main, loose = nodes["side"], nodes["main"], nodes["loose-w"]
    assert side["active"] is True and side["parent"] == "main" and side["fork_node"] == "boat"
    assert side["ahead"] == {"added": 0, "removed": 0, "changed": 1, "scene_fields": 0}
    assert side["behind"] == {"added": 0, "removed": 0, "changed": 1, "scene_fields": 0}
    assert side["vs_parent"]["changed"] == 2 and side["fast_forward"] is False
    assert main["behind"] == {"added": 0, "removed": 0, "changed": 0, "scene_fields": 0}
    assert main["fast_forward"] is True and main["up_to_date"] is False
    assert loose["behind"] is None and loose["fast_forward"] is None and loose["up_to_date"] is True
    assert graph["edges"] == [
        {"from": "scene:harbor", "to": "main", "kind": "fork", "node": "fork"},
        {"from": "main", "to": "side", "kind": "fork", "node": "boat"},
        {"from": "scene:loose", "to": "loose-w", "kind": "fork", "node": "fork"},
    ]


def test_graph_of_an_empty_project(tools):
    assert tools.get(f"{DM}/worldlines/graph").json() == {"project": "default", "active": None, "nodes": [],
                                                          "edges": [], "damaged": []}
    assert_envelope(tools.get(f"{DM}/worldlines/graph", params={"project": "nope"}), 404)


# -- merge ------------------------------------------------------------------------------------------

def test_merge_into_the_stored_scene(tools):
    assert tools.post("/api/scenes", json=scene()).status_code == 201
    make_worldline(tools, scene_id="harbor", id="main")
    edit(tools, "main", "boat", text="The boat sinks.")
    preview = tools.post(f"{DM}/worldlines/merge", json={"source": "main", "dry_run": True}).json()
    assert (preview["target"], preview["fast_forward"], preview["applied"]) == ("scene:harbor", True, False)
    assert node(tools.get("/api/scenes/harbor").json()["data"], "boat")["text"] == "The boat rocks."
    done = tools.post(f"{DM}/worldlines/merge", json={"source": "main"})
    assert done.status_code == 200, done.text
    assert done.json()["applied"] is True
    assert node(tools.get("/api/scenes/harbor").json()["data"], "boat")["text"] == "The boat sinks."
    graph = tools.get(f"{DM}/worldlines/graph").json()
    assert graph["edges"][-1] | {"at": None} == {"from": "main", "to": "scene:harbor", "kind": "merge", "at": None,
                                                 "fast_forward": True}
    assert {n["id"]: n for n in graph["nodes"]}["main"]["up_to_date"] is True
    assert payloads("on_worldline_merge") == [
        {"project": "default", "source": "main", "target": "scene:harbor", "fast_forward": True, "conflicts": 0,
         "dry_run": True, "applied": False},
        {"project": "default", "source": "main", "target": "scene:harbor", "fast_forward": True, "conflicts": 0,
         "dry_run": False, "applied": True},
    ]


def test_merge_conflicts_are_reported_then_resolved(tools):
    make_worldline(tools, scene=scene(), id="main")
    make_worldline(tools, worldline="main", id="side")
    edit(tools, "side", "boat", text="Side boat.")
    edit(tools, "main", "boat", text="Main boat.")
    preview = tools.post(f"{DM}/worldlines/merge", json={"source": "side", "dry_run": True}).json()
    assert preview["unresolved"] == ["boat"] and preview["conflicts"][0]["kind"] == "edit/edit"
    assert preview["conflicts"][0]["source"]["text"] == "Side boat."
    error = assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "side"}), 409, "merge_conflict")
    assert error["details"]["unresolved"] == ["boat"]
    assert node(tools.get("/api/pov/worlds/main").json()["scene"], "boat")["text"] == "Main boat."
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "side", "resolutions": {"boat": "mine"}}),
                    422)
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "side", "resolutions": {"road": "source"}}),
                    422, "unknown_conflict")
    done = tools.post(f"{DM}/worldlines/merge", json={"source": "side", "resolutions": {"boat": "source"}})
    assert done.status_code == 200, done.text
    assert node(tools.get("/api/pov/worlds/main").json()["scene"], "boat")["text"] == "Side boat."
    assert [(p["conflicts"], p["applied"]) for p in payloads("on_worldline_merge")] == [
        (1, False), (1, False), (1, True)]


def test_merge_into_an_inline_scene_is_never_written(tools):
    make_worldline(tools, scene=scene(), id="main")
    edit(tools, "main", "boat", text="The boat sinks.")
    other = edited(scene(), "road", text="Elsewhere.")
    answer = tools.post(f"{DM}/worldlines/merge", json={"source": "main", "target_scene": other}).json()
    assert answer["target"] == "inline:harbor" and answer["applied"] is False and answer["conflicts"] == []
    assert node(answer["merged"], "road")["text"] == "Elsewhere." and node(answer["merged"], "boat")["text"] == (
        "The boat sinks.")


def test_real_merge_into_an_inline_scene_with_conflicts_is_200_with_the_conflicts(tools):
    """An inline target is never written, so unresolved conflicts cannot block a write: the answer
    is 200 with applied false and every conflict (the docs once promised 409 here)."""
    make_worldline(tools, scene=scene(), id="main")
    edit(tools, "main", "boat", text="Main boat.")
    before = tools.get("/api/pov/worlds/main").json()
    other = edited(scene(), "boat", text="Other boat.")
    answer = tools.post(f"{DM}/worldlines/merge", json={"source": "main", "target_scene": other})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["dry_run"], body["applied"], body["unresolved"]) == (False, False, ["boat"])
    assert body["conflicts"][0]["kind"] == "edit/edit" and body["conflicts"][0]["source"]["text"] == "Main boat."
    assert node(body["merged"], "boat")["text"] == "Other boat."  # unresolved: the target's version stays
    resolved = tools.post(f"{DM}/worldlines/merge", json={"source": "main", "target_scene": other,
                                                            "resolutions": {"boat": "source"}}).json()
    assert resolved["unresolved"] == [] and resolved["applied"] is False
    assert node(resolved["merged"], "boat")["text"] == "Main boat."
    assert tools.get("/api/pov/worlds/main").json() == before  # no bookkeeping either
    assert [(p["dry_run"], p["applied"]) for p in payloads("on_worldline_merge")] == [(False, False)] * 2


def test_merge_bad_input(tools):
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "ghost"}), 404)
    make_worldline(tools, scene=scene(), id="main")
    error = assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "main"}), 404)
    assert "does not store" in error["message"]  # forked from an inline scene: no stored parent
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "main", "target": "ghost"}), 404)
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={"source": "main", "target": "main"}), 422)
    assert_envelope(tools.post(f"{DM}/worldlines/merge", json={}), 422)
