"""HTTP tests of /api/projects and the four record collections."""

from __future__ import annotations

import copy
import hashlib

import pytest

from comfyvn.core import modder_hooks
from comfyvn.projects.paths import project_dir
from tests.conftest import assert_envelope
from tests.projects.samples import KINDS, SCENE

KIND_NAMES = sorted(KINDS)


@pytest.fixture
def events(client):
    seen: list[dict] = []
    unsubscribe = modder_hooks.subscribe("on_project_changed", lambda envelope: seen.append(envelope["payload"]))
    yield seen
    unsubscribe()


def make_project(client, project_id="p1", **extra):
    response = client.post("/api/projects", json={"id": project_id, **extra})
    assert response.status_code == 201, response.text
    return response.json()


# -- projects ---------------------------------------------------------------------------------

def test_default_project_is_created_on_first_use(client):
    assert not (project_dir("default") / "project.json").exists()
    items = client.get("/api/projects").json()["items"]
    assert [item["id"] for item in items] == ["default"]
    assert (project_dir("default") / "project.json").is_file()


def test_project_create_get_list(client, events):
    created = make_project(client, "novel", name="My novel", description="A test", metadata={"a": 1})
    assert created["data"]["name"] == "My novel" and created["data"]["created_at"].endswith("Z")
    got = client.get("/api/projects/novel").json()
    assert got["data"] == created["data"] and got["revision"] == created["revision"]
    assert got["counts"] == {"scenes": 0, "characters": 0, "timelines": 0, "worlds": 0, "translations": 0}
    raw = (project_dir("novel") / "project.json").read_bytes()
    assert got["revision"] == hashlib.sha256(raw).hexdigest()
    ids = [item["id"] for item in client.get("/api/projects").json()["items"]]
    assert ids == ["default", "novel"]
    assert {"project": "novel", "kind": "project", "id": "novel", "action": "created"} in events


def test_project_name_defaults_to_id(client):
    assert make_project(client, "plain")["data"]["name"] == "plain"


def test_duplicate_project_is_409(client):
    make_project(client, "p1")
    error = assert_envelope(client.post("/api/projects", json={"id": "p1"}), 409, "conflict")
    assert "already exists" in error["message"]


@pytest.mark.parametrize("bad", ["../x", "..", ".hidden", "a/b", "", "x" * 200, 5])
def test_bad_project_ids_are_422(client, bad):
    assert_envelope(client.post("/api/projects", json={"id": bad}), 422)


def test_bad_project_in_query_is_422_and_unknown_is_404(client):
    assert_envelope(client.get("/api/scenes", params={"project": "../x"}), 422, "invalid_input")
    assert_envelope(client.get("/api/projects/..x"), 422, "invalid_input")
    error = assert_envelope(client.get("/api/scenes", params={"project": "nope"}), 404, "not_found")
    assert "nope" in error["message"]
    assert_envelope(client.get("/api/projects/nope"), 404, "not_found")
    assert_envelope(client.patch("/api/projects/nope", json={"name": "x"}), 404, "not_found")
    assert_envelope(client.delete("/api/projects/nope"), 404, "not_found")


def test_project_wrong_types_are_422(client):
    assert_envelope(client.post("/api/projects", json={"id": "p1", "name": 5}), 422, "invalid_project")
    assert_envelope(client.post("/api/projects", json=["p1"]), 422, "validation_error")
    assert_envelope(client.post("/api/projects", json={"name": "no id"}), 422, "invalid_input")
    make_project(client, "p1")
    assert_envelope(client.patch("/api/projects/p1", json={"nmae": "typo"}), 422, "invalid_project")


def test_project_patch_merges_and_checks_revision(client, events):
    created = make_project(client, "p1", metadata={"keep": 1})
    old_revision = created["revision"]
    patched = client.patch("/api/projects/p1", params={"expected_revision": old_revision},
                           json={"name": "Renamed", "metadata": {"added": 2}, "created_at": "1999-01-01T00:00:00Z"})
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert data["name"] == "Renamed" and data["metadata"] == {"keep": 1, "added": 2}
    assert data["created_at"] == created["data"]["created_at"]  # the server owns the timestamps
    assert patched.json()["revision"] != old_revision
    error = assert_envelope(client.patch("/api/projects/p1", params={"expected_revision": old_revision},
                                         json={"name": "Lost update"}), 409, "conflict")
    assert error["details"]["current_revision"] == patched.json()["revision"]
    assert client.get("/api/projects/p1").json()["data"]["name"] == "Renamed"
    assert_envelope(client.patch("/api/projects/p1", json={"id": "other"}), 422, "invalid_input")
    assert {"project": "p1", "kind": "project", "id": "p1", "action": "updated"} in events


def test_project_delete_needs_force_when_not_empty(client, events):
    make_project(client, "empty")
    assert client.delete("/api/projects/empty").json()["deleted"] is True
    assert not project_dir("empty").exists()
    make_project(client, "full")
    assert client.post("/api/characters", params={"project": "full"}, json={"id": "a", "name": "A"}).status_code == 201
    error = assert_envelope(client.delete("/api/projects/full"), 409, "conflict")
    assert "force=true" in error["message"]
    assert project_dir("full").is_dir()
    response = client.delete("/api/projects/full", params={"force": "true"})
    assert response.status_code == 200 and response.json()["files"] == 1
    assert not project_dir("full").exists()
    assert_envelope(client.get("/api/projects/full"), 404)
    assert [i["id"] for i in client.get("/api/projects").json()["items"]] == ["default"]
    assert {"project": "full", "kind": "project", "id": "full", "action": "deleted"} in events


# -- the four collections ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", KIND_NAMES)
def test_crud_round_trip(client, events, kind):
    segment, record, label, _bad = KINDS[kind]
    base = f"/api/{segment}"
    item_id = record["id"]
    created = client.post(base, json=record)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == item_id and body["kind"] == kind and body["warnings"] == []
    path = project_dir("default") / segment / f"{item_id}.json"
    assert body["revision"] == hashlib.sha256(path.read_bytes()).hexdigest()

    listed = client.get(base).json()
    assert listed["items"] == [{"id": item_id, label: record[label], "revision": body["revision"],
                                "updated_at": body["updated_at"]}]
    got = client.get(f"{base}/{item_id}").json()
    assert got["data"] == body["data"] and got["revision"] == body["revision"]

    changed = copy.deepcopy(got["data"])
    changed[label] = "Changed"
    replaced = client.put(f"{base}/{item_id}", json=changed, params={"expected_revision": got["revision"]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"][label] == "Changed"

    patched = client.patch(f"{base}/{item_id}", json={"metadata": {"note": "hi"}},
                           params={"expected_revision": replaced.json()["revision"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"][label] == "Changed" and patched.json()["data"]["metadata"] == {"note": "hi"}

    deleted = client.delete(f"{base}/{item_id}", params={"expected_revision": patched.json()["revision"]})
    assert deleted.json() == {"project": "default", "kind": kind, "id": item_id, "deleted": True}
    assert_envelope(client.get(f"{base}/{item_id}"), 404, "not_found")
    assert client.get(base).json()["items"] == []
    mine = [(e["kind"], e["id"], e["action"]) for e in events if e["kind"] == kind]
    assert mine == [(kind, item_id, a) for a in ("created", "updated", "updated", "deleted")]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_collection_errors(client, kind):
    segment, record, _label, bad = KINDS[kind]
    base = f"/api/{segment}"
    item_id = record["id"]
    assert client.post(base, json=record).status_code == 201
    error = assert_envelope(client.post(base, json=record), 409, "conflict")
    assert item_id in error["message"]
    error = assert_envelope(client.put(f"{base}/{item_id}", json=bad), 422, f"invalid_{kind}")
    assert error["details"]["errors"] and all("path" in e for e in error["details"]["errors"])
    assert_envelope(client.post(base, json={**record, "id": "../x"}), 422)
    assert_envelope(client.post(base, json={**record, "id": "fresh", "unknown_field": 1}), 422, f"invalid_{kind}")
    assert_envelope(client.post(base, json=[record]), 422, "validation_error")
    assert_envelope(client.put(f"{base}/{item_id}", json={**record, "id": "other"}), 422, "invalid_input")
    assert_envelope(client.patch(f"{base}/{item_id}", json={"id": "other"}), 422, "invalid_input")
    assert_envelope(client.put(f"{base}/{item_id}", json=record, params={"expected_revision": "0" * 64}), 409)
    assert_envelope(client.patch(f"{base}/{item_id}", json={}, params={"expected_revision": "x"}), 409)
    assert_envelope(client.delete(f"{base}/{item_id}", params={"expected_revision": "x"}), 409)
    assert_envelope(client.get(f"{base}/missing"), 404, "not_found")
    assert_envelope(client.put(f"{base}/missing", json={**record, "id": "missing"}), 404, "not_found")
    assert_envelope(client.patch(f"{base}/missing", json={}), 404, "not_found")
    assert_envelope(client.delete(f"{base}/missing"), 404, "not_found")
    assert_envelope(client.get(f"{base}/..x"), 422, "invalid_input")
    assert_envelope(client.get(f"{base}/{item_id}", params={"project": "nope"}), 404, "not_found")
    assert_envelope(client.post(base, params={"project": "nope"}, json=record), 404, "not_found")


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_records_are_separate_per_project(client, kind):
    segment, record, _label, _bad = KINDS[kind]
    make_project(client, "other")
    assert client.post(f"/api/{segment}", json=record, params={"project": "other"}).status_code == 201
    assert client.get(f"/api/{segment}").json()["items"] == []
    assert len(client.get(f"/api/{segment}", params={"project": "other"}).json()["items"]) == 1
    assert client.get("/api/projects/other").json()["counts"][segment] == 1


def test_put_without_id_takes_it_from_the_address(client):
    client.post("/api/characters", json={"id": "bob", "name": "Bob"})
    response = client.put("/api/characters/bob", json={"name": "Robert"})
    assert response.status_code == 200 and response.json()["data"]["id"] == "bob"


def test_unchanged_save_keeps_revision_and_emits_nothing(client, events):
    created = client.post("/api/characters", json={"id": "bob", "name": "Bob"}).json()
    again = client.put("/api/characters/bob", json=created["data"]).json()
    assert again["revision"] == created["revision"]
    assert [e["action"] for e in events if e["id"] == "bob"] == ["created"]


# -- scenes -----------------------------------------------------------------------------------

def test_scene_with_unknown_target_is_422_with_errors(client):
    scene = copy.deepcopy(SCENE)
    scene["nodes"][0]["next"] = "nowhere"
    error = assert_envelope(client.post("/api/scenes", json=scene), 422, "invalid_scene")
    problem = error["details"]["errors"][0]
    assert problem["path"] == "/nodes/0/next" and problem["code"] == "unknown_target"
    assert "nowhere" in error["message"]
    assert not (project_dir("default") / "scenes" / "intro.json").exists()


def test_scene_warnings_are_returned(client):
    scene = copy.deepcopy(SCENE)
    scene["nodes"].append({"id": "orphan", "type": "end"})
    response = client.post("/api/scenes", json=scene)
    assert response.status_code == 201
    assert [w["code"] for w in response.json()["warnings"]] == ["unreachable"]


def test_scene_is_stored_canonically(client):
    client.post("/api/scenes", json=SCENE)
    stored = client.get("/api/scenes/intro").json()["data"]
    assert stored["schema_version"] == 1 and "cast" not in stored  # Scene.to_json(): empties left out


def test_failed_save_leaves_the_old_file_byte_identical(client):
    client.post("/api/scenes", json=SCENE)
    path = project_dir("default") / "scenes" / "intro.json"
    before = path.read_bytes()
    broken = copy.deepcopy(SCENE)
    broken["start"] = "missing"
    assert_envelope(client.put("/api/scenes/intro", json=broken), 422, "invalid_scene")
    assert_envelope(client.patch("/api/scenes/intro", json={"nodes": []}), 422, "invalid_scene")
    assert_envelope(client.put("/api/scenes/intro", json=SCENE, params={"expected_revision": "stale"}), 409)
    assert path.read_bytes() == before
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "intro.json"]
    assert leftovers == []


def test_no_temp_files_are_left_behind(client):
    make_project(client, "p1")
    for kind in KIND_NAMES:
        segment, record, label, _bad = KINDS[kind]
        client.post(f"/api/{segment}", json=record, params={"project": "p1"})
        client.patch(f"/api/{segment}/{record['id']}", json={label: "Edited"}, params={"project": "p1"})
    client.patch("/api/projects/p1", json={"description": "edited"})
    names = sorted(p.relative_to(project_dir("p1")).as_posix() for p in project_dir("p1").rglob("*") if p.is_file())
    assert names == ["characters/alice.json", "project.json", "scenes/intro.json", "timelines/main.json",
                     "worlds/earth.json"]


def test_corrupt_file_does_not_break_listing(client):
    client.post("/api/characters", json={"id": "good", "name": "Good"})
    folder = project_dir("default") / "characters"
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "array.json").write_text("[1, 2]", encoding="utf-8")
    items = client.get("/api/characters").json()["items"]
    assert [item["id"] for item in items] == ["good"]
    assert any(p.name.startswith("broken.json.corrupt-") for p in folder.iterdir())
    assert_envelope(client.get("/api/characters/broken"), 404)


# -- timelines ----------------------------------------------------------------------------------

def test_timeline_must_name_existing_scenes(client):
    error = assert_envelope(client.post("/api/timelines", json={"id": "main", "scenes": ["intro", "ghost"]}),
                            422, "invalid_timeline")
    assert "'intro'" in error["message"] and "'ghost'" in error["message"]
    assert error["details"]["missing"] == ["intro", "ghost"]
    assert [e["path"] for e in error["details"]["errors"]] == ["/scenes/0", "/scenes/1"]
    client.post("/api/scenes", json=SCENE)
    response = client.post("/api/timelines", json={"id": "main", "scenes": ["intro"]})
    assert response.status_code == 201
    error = assert_envelope(client.patch("/api/timelines/main", json={"scenes": ["intro", "ghost"]}), 422)
    assert error["details"]["missing"] == ["ghost"]


def test_scene_in_a_timeline_is_deleted_only_with_force(client):
    client.post("/api/scenes", json=SCENE)
    client.post("/api/timelines", json={"id": "main", "scenes": ["intro"]})
    error = assert_envelope(client.delete("/api/scenes/intro"), 409, "conflict")
    assert error["details"]["timelines"] == ["main"]
    assert client.delete("/api/scenes/intro", params={"force": "true"}).status_code == 200
    assert_envelope(client.get("/api/scenes/intro"), 404)


# -- characters -------------------------------------------------------------------------------

def test_character_defaults_and_checks(client):
    data = client.post("/api/characters", json={"id": "c", "name": "C"}).json()["data"]
    assert data["expressions"] == ["neutral"] and data["color"] is None and data["card"] == {}
    assert_envelope(client.post("/api/characters", json={"id": "d", "name": "D", "color": "red"}), 422)
    assert_envelope(client.post("/api/characters", json={"id": "d", "name": "D", "expressions": ["a", "a"]}), 422)
    error = assert_envelope(client.post("/api/characters", json={
        "id": "d", "name": "D", "expressions": ["joy"], "default_expression": "sad"}), 422, "invalid_character")
    assert "default_expression" in error["message"]


def test_stored_scene_can_be_played_by_id(client):
    make_project(client, "p1")
    client.post("/api/scenes", params={"project": "p1"}, json=SCENE)
    response = client.post("/api/scenario/run/step", json={"scene_id": "intro", "project": "p1"})
    assert response.status_code == 200, response.text
    assert response.json()["node"]["id"] == "a"
    assert_envelope(client.post("/api/scenario/run/step", json={"scene_id": "nope", "project": "p1"}), 404)
