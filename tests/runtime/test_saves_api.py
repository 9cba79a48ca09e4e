"""The saves API over HTTP: save, read, list, delete, resume, and every kind of bad input."""

from __future__ import annotations

import itertools
import os

import pytest
from fastapi.testclient import TestClient

from comfyvn.config import runtime_paths
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.runtime import savepoints
from comfyvn.scenario.models import parse_scene
from comfyvn.server.app import create_app
from tests.conftest import assert_envelope
from tests.runtime.scenes import branchy, without_node

MINIMAL = {"vars": {"trust": 1}, "node_pointer": "order", "seed": 7}


def saves_on_disk() -> list[str]:
    folder = runtime_paths.data_dir() / "saves"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def clock(monkeypatch):
    """Save times from a counter, so 'newest first' does not depend on the clock's resolution."""
    ticks = itertools.count(1)
    monkeypatch.setattr(savepoints, "_now", lambda: f"2025-01-01T00:00:{next(ticks):02d}.000000Z")


def run_to(client, scene, seed, steps):
    """A state after ``steps`` random steps from the start (via /api/scenario/run/step)."""
    state = client.post("/api/scenario/run/step", json={"scene": scene, "seed": seed}).json()["state"]
    for _ in range(steps):
        if state["finished"]:
            break
        answer = client.post("/api/scenario/run/step", json={"scene": scene, "state": state})
        assert answer.status_code == 200, answer.text
        state = answer.json()["state"]
    return state


# -- save and read ------------------------------------------------------------------------------------

def test_save_then_read_returns_what_was_saved(client):
    body = MINIMAL | {"rng": "00000000000000ff", "step": 4, "pov": "mira", "label": "Before ordering",
                      "metadata": {"chapter": 1, "shot": {"w": 320}}}
    answer = client.post("/api/save/slot1", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is True
    stored = client.get("/api/save/slot1").json()
    assert {k: stored[k] for k in body} == body
    assert stored["format"] == "comfyvn.save" and stored["version"] == 1 and stored["slot"] == "slot1"
    assert stored["created_at"] == stored["updated_at"]
    assert saves_on_disk() == [".lock", "slot1.json"]


def test_overwrite_keeps_created_at_and_reports_not_created(client, clock):
    first = client.post("/api/save/s", json=MINIMAL).json()["save"]
    again = client.post("/api/save/s", json=MINIMAL | {"vars": {"trust": 9}}).json()
    assert again["created"] is False
    assert again["save"]["created_at"] == first["created_at"] < again["save"]["updated_at"]
    assert client.get("/api/save/s").json()["vars"] == {"trust": 9}


def test_slot_names_are_case_folded(client):
    assert client.post("/api/save/Chapter1", json=MINIMAL).json()["save"]["slot"] == "chapter1"
    assert client.get("/api/save/CHAPTER1").json()["slot"] == "chapter1"
    assert "chapter1.json" in saves_on_disk()


def test_extra_top_level_fields_are_kept_in_metadata_and_title_is_a_label(client):
    body = MINIMAL | {"chapter": 2, "play_seconds": 81.5, "title": "Quick", "metadata": {"mood": "calm"}}
    stored = client.post("/api/save/q", json=body).json()["save"]
    assert stored["metadata"] == {"chapter": 2, "play_seconds": 81.5, "mood": "calm"}
    assert stored["label"] == "Quick"


def test_save_from_a_runner_state(client):
    scene = branchy()
    state = run_to(client, scene, seed=5, steps=2)
    stored = client.post("/api/save/auto", json={"state": state, "scene": scene}).json()["save"]
    assert stored["node_pointer"] == state["node"]
    assert (stored["vars"], stored["rng"], stored["seed"], stored["step"]) == (
        state["vars"], state["rng"], state["seed"], state["step"])
    assert stored["scene_id"] == "cafe" and stored["trace"] == state["trace"]
    assert stored["scene_digest"] == savepoints.scene_digest(parse_scene(scene))


# -- list and delete ----------------------------------------------------------------------------------

def test_list_is_newest_first_and_not_shadowed_by_the_slot_route(client, clock):
    assert client.get("/api/save/list").json() == {"saves": []}
    for slot in ("b", "a", "c"):
        client.post(f"/api/save/{slot}", json=MINIMAL | {"label": slot.upper()})
    client.post("/api/save/a", json=MINIMAL | {"label": "A2"})  # a becomes the newest
    saves = client.get("/api/save/list").json()["saves"]
    assert [s["slot"] for s in saves] == ["a", "c", "b"]
    assert saves[0] == {"slot": "a", "label": "A2", "scene_id": None, "project": None, "node_pointer": "order",
                        "step": 0, "created_at": "2025-01-01T00:00:02.000000Z",
                        "updated_at": "2025-01-01T00:00:04.000000Z"}


def test_delete(client):
    client.post("/api/save/gone", json=MINIMAL)
    assert client.delete("/api/save/gone").json() == {"slot": "gone", "deleted": True}
    assert_envelope(client.get("/api/save/gone"), 404, "not_found")
    assert_envelope(client.delete("/api/save/gone"), 404, "not_found")
    assert client.get("/api/save/list").json() == {"saves": []}


@pytest.mark.parametrize("content", ['{"vars": {"tru', '{"hello": 1}', "[]"])
def test_a_damaged_save_stays_listed_and_409_until_overwritten_or_deleted(client, clock, content):
    assert client.post("/api/save/good", json=MINIMAL).status_code == 200
    folder = runtime_paths.data_dir() / "saves"
    (folder / "bad.json").write_text(content, encoding="utf-8")
    for _ in range(2):  # listing and reading never move the file, so the answers do not change
        listed = client.get("/api/save/list").json()["saves"]
        assert [(item["slot"], "error" in item) for item in listed] == [("good", False), ("bad", True)]
        error = assert_envelope(client.get("/api/save/bad"), 409, "save_unreadable")
        assert "overwrite" in error["message"] and error["details"]["slot"] == "bad"
        assert_envelope(client.post("/api/save/bad/resume", json={}), 409, "save_unreadable")
    assert saves_on_disk() == [".lock", "bad.json", "good.json"]
    assert (folder / "bad.json").read_text(encoding="utf-8") == content
    replaced = client.post("/api/save/bad", json=MINIMAL).json()
    assert replaced["created"] is False and client.get("/api/save/bad").json()["vars"] == MINIMAL["vars"]
    (folder / "bad.json").write_text(content, encoding="utf-8")
    assert client.delete("/api/save/bad").json() == {"slot": "bad", "deleted": True}
    assert saves_on_disk() == [".lock", "good.json"]


def test_unknown_slot_is_404_everywhere(client):
    for response in (client.get("/api/save/nope"), client.delete("/api/save/nope"),
                     client.post("/api/save/nope/resume", json={"scene": branchy()})):
        error = assert_envelope(response, 404, "not_found")
        assert "'nope'" in error["message"]


def test_fixed_paths_answer_405_for_other_methods(client):
    assert_envelope(client.delete("/api/save/list"), 405, "method_not_allowed")
    assert_envelope(client.get("/api/save/x/resume"), 405, "method_not_allowed")
    assert_envelope(client.delete("/api/save/x/resume"), 405, "method_not_allowed")


# -- bad input ----------------------------------------------------------------------------------------

def test_missing_required_fields_are_422_naming_them(client):
    for field in ("vars", "node_pointer", "seed"):
        body = {k: v for k, v in MINIMAL.items() if k != field}
        error = assert_envelope(client.post("/api/save/s", json=body), 422, "invalid_save")
        assert f"{field}: this field is required" in error["message"], field
        assert error["details"]["errors"][0]["field"] == field
    assert_envelope(client.get("/api/save/s"), 404)


WRONG = [({"vars": [1, 2]}, "vars"), ({"seed": True}, "seed"), ({"seed": 1.5}, "seed"), ({"rng": "xyz"}, "rng"),
         ({"step": -1}, "step"), ({"node_pointer": "../etc"}, "node_pointer"), ({"metadata": "text"}, "metadata"),
         ({"label": "x" * 201}, "label")]


def test_wrong_types_are_422_naming_the_field(client):
    for patch, field in WRONG:
        error = assert_envelope(client.post("/api/save/s", json=MINIMAL | patch), 422, "invalid_save")
        assert error["details"]["errors"][0]["field"] == field, (patch, error)
    for body in ([1, 2], "text", None):
        assert_envelope(client.post("/api/save/s", json=body), 422)
    assert saves_on_disk() == []


# URL-encoded where a client would have to encode them
BAD_SLOTS = ["..%2Fx", "a%2Fb", "%2E%2E", "", "x" * 65, ".hidden", "-x", "a..b", "bad%20name", "x.", "con",
             "nul.txt", "a%5Cb", "%C3%A9t%C3%A9"]


def test_unusable_slot_names_are_422_and_touch_nothing(client):
    client.post("/api/save/keep", json=MINIMAL)
    for slot in [*BAD_SLOTS, "list"]:
        error = assert_envelope(client.post(f"/api/save/{slot}", json=MINIMAL), 422, "invalid_slot")
        assert "slot name" in error["message"] and "letters, digits" in error["message"], slot
        if slot != "list":  # GET /api/save/list is the listing
            assert_envelope(client.get(f"/api/save/{slot}"), 422, "invalid_slot")
            assert_envelope(client.delete(f"/api/save/{slot}"), 422, "invalid_slot")
            assert_envelope(client.post(f"/api/save/{slot}/resume", json={}), 422, "invalid_slot")
    assert saves_on_disk() == [".lock", "keep.json"]


def test_longest_slot_name_is_accepted(client):
    assert client.post("/api/save/" + "x" * 64, json=MINIMAL).status_code == 200


def test_misspelt_known_field_is_refused_with_a_suggestion(client):
    error = assert_envelope(client.post("/api/save/s", json=MINIMAL | {"rgn": "00000000000000ff"}), 422)
    assert "did you mean 'rng'" in error["message"]
    error = assert_envelope(client.post("/api/save/s", json=MINIMAL | {"metdata": {}}), 422)
    assert "did you mean 'metadata'" in error["message"]


def test_state_and_fields_together_are_refused(client):
    state = run_to(client, branchy(), seed=1, steps=0)
    error = assert_envelope(client.post("/api/save/s", json={"state": state, "vars": {}}), 422)
    assert "'state'" in error["message"] and "'vars'" in error["message"]


def test_invalid_state_names_the_bad_field(client):
    state = run_to(client, branchy(), seed=1, steps=0)
    state["rng"] = "not hex"
    error = assert_envelope(client.post("/api/save/s", json={"state": state}), 422)
    assert error["details"]["errors"][0]["field"] == "state.rng"


def test_node_pointer_must_exist_in_the_scene_given(client):
    error = assert_envelope(client.post("/api/save/s", json=MINIMAL | {"node_pointer": "nowhere",
                                                                        "scene": branchy()}), 422)
    assert "'nowhere'" in error["message"] and "'cafe'" in error["message"]


def test_malformed_json_is_422(client):
    response = client.post("/api/save/s", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422)


def test_huge_save_is_413_and_nothing_is_stored(runtime_root):
    SettingsManager().save({"server": {"max_body_bytes": 2000}})
    with TestClient(create_app(configure_logging=False)) as client:
        big = MINIMAL | {"metadata": {"blob": "x" * 10_000}}
        error = assert_envelope(client.post("/api/save/big", json=big), 413, "payload_too_large")
        assert "2000" in error["message"]
        assert_envelope(client.get("/api/save/big"), 404)
        assert client.post("/api/save/small", json=MINIMAL).status_code == 200


def test_interrupted_write_leaves_the_previous_save_readable(app, monkeypatch):
    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/api/save/s", json=MINIMAL)
        before = client.get("/api/save/s").json()
        real_replace = os.replace

        def power_cut(src, dst):
            if str(dst).endswith("s.json"):
                raise OSError(28, "No space left on device")
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", power_cut)
        assert_envelope(client.post("/api/save/s", json=MINIMAL | {"vars": {"trust": 99}}), 500)
        monkeypatch.setattr(os, "replace", real_replace)
        assert client.get("/api/save/s").json() == before
        assert saves_on_disk() == [".lock", "s.json"]  # the temp file was cleaned up


# -- resume -------------------------------------------------------------------------------------------

def test_resume_answers_like_a_step_and_the_run_goes_on(client):
    scene = branchy()
    state = run_to(client, scene, seed=11, steps=2)
    client.post("/api/save/s", json={"state": state, "scene": scene})
    answer = client.post("/api/save/s/resume", json={"scene": scene})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"state", "node", "choices", "finished", "reason", "slot", "scene_changed"} <= set(body)
    assert body["state"] == state
    assert body["node"]["id"] == state["node"] and body["slot"] == "s" and body["scene_changed"] is False
    expected = client.post("/api/scenario/run/step", json={"scene": scene, "state": state}).json()
    resumed = client.post("/api/scenario/run/step", json={"scene": scene, "state": body["state"]}).json()
    assert resumed == expected


def test_resume_without_rng_reseeds_from_the_seed(client):
    scene = branchy()
    client.post("/api/save/s", json={"vars": {"trust": 0}, "node_pointer": "order", "seed": "abc",
                                     "scene_id": "cafe"})
    state = client.post("/api/save/s/resume", json={"scene": scene}).json()["state"]
    started = client.post("/api/scenario/run/step", json={"scene": scene, "seed": "abc"}).json()["state"]
    assert state["rng"] == started["rng"]
    assert state["scene_id"] == "cafe" and state["step"] == 0


def test_resume_of_a_save_at_an_end_node_is_finished(client):
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "bye", "seed": 1, "scene": branchy()})
    body = client.post("/api/save/s/resume", json={"scene": branchy()}).json()
    assert body["finished"] is True and body["reason"] == "end" and body["choices"] == []


def test_resume_after_the_saved_node_was_removed_is_409_save_stale(client):
    scene = branchy()
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "chat", "seed": 1, "scene": scene})
    edited = without_node(scene, "chat", "bye")
    error = assert_envelope(client.post("/api/save/s/resume", json={"scene": edited}), 409, "save_stale")
    assert "'chat'" in error["message"] and "'cafe'" in error["message"]
    assert error["details"] == {"slot": "s", "node": "chat", "scene_id": "cafe"}


def test_resume_with_another_scene_is_409(client):
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "chat", "seed": 1, "scene": branchy()})
    other = branchy() | {"id": "other"}
    error = assert_envelope(client.post("/api/save/s/resume", json={"scene": other}), 409, "save_scene_mismatch")
    assert "'cafe'" in error["message"] and "'other'" in error["message"]


def test_resume_after_an_edit_that_kept_the_node_reports_scene_changed(client):
    scene = branchy()
    state = run_to(client, scene, seed=3, steps=1)
    client.post("/api/save/s", json={"state": state, "scene": scene})
    edited = branchy()
    edited["nodes"][0]["text"] = "Hello again!"
    body = client.post("/api/save/s/resume", json={"scene": edited}).json()
    assert body["scene_changed"] is True
    assert body["state"]["node"] == state["node"] and body["state"]["vars"] == state["vars"]
    assert body["state"]["history"] == []  # no undo into the old version of the scene


def test_resume_of_a_save_without_digest_reports_unknown(client):
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "order", "seed": 1})
    assert client.post("/api/save/s/resume", json={"scene": branchy()}).json()["scene_changed"] is None


def test_resume_needs_a_scene_when_the_save_names_none(client):
    client.post("/api/save/s", json=MINIMAL)
    error = assert_envelope(client.post("/api/save/s/resume", json={}), 422)
    assert "scene" in error["message"]


def test_stored_scene_edited_after_the_save(client):
    """The whole user flow on a stored scene: play, save, edit the scene, resume."""
    scene = branchy()
    assert client.post("/api/scenes", json=scene).status_code == 201
    state = client.post("/api/scenario/run/step", json={"scene_id": "cafe", "seed": 2}).json()["state"]
    state = client.post("/api/scenario/run/step", json={"scene_id": "cafe", "state": state}).json()["state"]
    saved = client.post("/api/save/s", json={"state": state}).json()["save"]
    assert saved["scene_digest"] is not None  # computed from the stored scene

    body = client.post("/api/save/s/resume").json()  # no body: the save's own scene
    assert body["state"]["node"] == state["node"] and body["scene_changed"] is False

    edited = branchy()
    edited["title"] = "Cafe, revised"
    assert client.put("/api/scenes/cafe", json=edited).status_code == 200
    assert client.post("/api/save/s/resume", json={}).json()["scene_changed"] is True

    assert client.put("/api/scenes/cafe", json=without_node(scene, state["node"], "bye")).status_code == 200
    error = assert_envelope(client.post("/api/save/s/resume", json={}), 409, "save_stale")
    assert repr(state["node"]) in error["message"]


def test_events_are_emitted(client):
    scene = branchy()
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "order", "seed": 1, "scene": scene})
    client.post("/api/save/s", json={"vars": {}, "node_pointer": "chat", "seed": 1, "scene": scene})
    client.post("/api/save/s/resume", json={"scene": scene})
    client.delete("/api/save/s")
    seen = [(e["event"], e["payload"]) for e in modder_hooks.history(event="on_save_*")]
    assert seen == [
        ("on_save_written", {"slot": "s", "scene_id": "cafe", "node_id": "order", "created": True}),
        ("on_save_written", {"slot": "s", "scene_id": "cafe", "node_id": "chat", "created": False}),
        ("on_save_loaded", {"slot": "s", "scene_id": "cafe", "node_id": "chat", "scene_changed": False}),
        ("on_save_deleted", {"slot": "s"}),
    ]


def test_resume_refuses_unknown_fields(client):
    client.post("/api/save/s", json=MINIMAL | {"scene_id": "cafe"})
    error = assert_envelope(client.post("/api/save/s/resume", json={"scene_Id": "x"}), 422, "validation_error")
    assert "scene_Id" in error["message"]


def test_openapi_lists_the_save_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/save/{slot}"]) == {"get", "post", "delete"}
    assert set(paths["/api/save/{slot}/resume"]) == {"post"} and set(paths["/api/save/list"]) == {"get"}
