"""Unit tests of the project store, without HTTP."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.projects import store
from comfyvn.projects.kinds import kind
from comfyvn.projects.paths import project_dir
from comfyvn.scenario import service
from comfyvn.scenario.models import Scene, parse_scene
from tests.projects.samples import KINDS, SCENE

scenes = store.collection("scene")


def test_get_scene_round_trips_a_scene():
    scenes.create("default", SCENE)
    scene = store.get_scene("default", "intro")
    assert isinstance(scene, Scene)
    assert scene == parse_scene(SCENE)
    assert scene.to_json() == scenes.get("default", "intro")["data"]


def test_scenario_service_resolves_stored_scenes():
    scenes.create("default", SCENE)
    assert service.resolve_scene(scene_id="intro").id == "intro"
    assert store.DEFAULT_PROJECT == "default"


def test_get_scene_errors_are_clear():
    with pytest.raises(NotFound) as missing:
        store.get_scene("default", "nope")
    assert "'nope'" in missing.value.message and "'default'" in missing.value.message
    with pytest.raises(NotFound, match="project 'ghost' was not found"):
        store.get_scene("ghost", "intro")
    with pytest.raises(InvalidInput):
        store.get_scene("default", "../etc/passwd")


def test_hand_broken_stored_scene_is_reported_not_crashed():
    scenes.create("default", SCENE)
    path = scenes.path("default", "intro")
    broken = copy.deepcopy(SCENE)
    broken["start"] = "missing"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(InvalidInput, match="stored scene 'intro'") as err:
        store.get_scene("default", "intro")
    assert err.value.details["errors"][0]["path"] == "/start"
    assert scenes.get("default", "intro")["data"]["start"] == "missing"  # GET still shows it, so it can be fixed


def test_revision_is_the_sha256_of_the_file():
    for name, (segment, record, _label, _bad) in KINDS.items():
        if name == "timeline":
            continue
        answer = store.collection(name).create("default", record)
        raw = (project_dir("default") / segment / f"{record['id']}.json").read_bytes()
        assert answer["revision"] == hashlib.sha256(raw).hexdigest()
        assert raw.decode().endswith("\n") and '  "id"' in raw.decode()  # canonical, readable JSON


def test_expected_revision_protects_against_lost_updates():
    characters = store.collection("character")
    first = characters.create("default", {"id": "a", "name": "A"})
    studio_a = characters.get("default", "a")["revision"]
    characters.patch("default", "a", {"name": "B"}, expected_revision=studio_a)
    with pytest.raises(Conflict) as err:
        characters.patch("default", "a", {"name": "C"}, expected_revision=studio_a)
    assert err.value.details["expected_revision"] == first["revision"]
    assert characters.get("default", "a")["data"]["name"] == "B"


def test_events_match_the_declaration():
    seen = []
    modder_hooks.subscribe("on_project_changed", lambda e: seen.append(e["payload"]))
    store.create_project({"id": "p"})
    store.collection("world").create("p", {"id": "w", "name": "W"})
    store.collection("world").delete("p", "w")
    store.update_project("p", {"description": "d"})
    store.delete_project("p")
    assert [(e["kind"], e["id"], e["action"]) for e in seen] == [
        ("project", "p", "created"), ("world", "w", "created"), ("world", "w", "deleted"),
        ("project", "p", "updated"), ("project", "p", "deleted")]
    assert all(e["project"] == "p" for e in seen)


def test_corrupt_project_record_is_skipped_then_restorable():
    store.create_project({"id": "p"})
    scenes.create("p", SCENE)
    (project_dir("p") / "project.json").write_text("{oops", encoding="utf-8")
    assert [p["id"] for p in store.list_projects()] == ["default"]
    assert any(f.name.startswith("project.json.corrupt-") for f in project_dir("p").iterdir())
    with pytest.raises(NotFound):
        store.get_project("p")
    store.create_project({"id": "p", "name": "Restored"})
    assert store.get_project("p")["counts"]["scenes"] == 1


def test_delete_project_leaves_nothing_behind():
    store.create_project({"id": "p"})
    scenes.create("p", SCENE)
    with pytest.raises(Conflict):
        store.delete_project("p")
    store.delete_project("p", force=True)
    workspace = runtime_paths.workspaces_dir()
    assert sorted(f.name for f in workspace.iterdir()) == [".locks"]


def test_default_project_is_recreated_after_deletion():
    assert [p["id"] for p in store.list_projects()] == ["default"]
    store.delete_project("default")
    assert not project_dir("default").exists()
    assert store.collection("character").list() == []
    assert (project_dir("default") / "project.json").is_file()


def test_unknown_kind_is_422():
    with pytest.raises(InvalidInput, match="unknown record kind"):
        kind("spaceship")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_ids_never_leave_the_project_folder(item_id):
    try:
        path = scenes.path("default", item_id)
    except InvalidInput:
        return
    folder = (project_dir("default") / "scenes").resolve()
    assert path.resolve().parent == folder and path.name == f"{item_id}.json"


def test_concurrent_saves_with_the_same_revision_let_exactly_one_win():
    from concurrent.futures import ThreadPoolExecutor

    characters = store.collection("character")
    base = characters.create("default", {"id": "a", "name": "A"})["revision"]

    def save(n: int) -> str:
        try:
            characters.patch("default", "a", {"name": f"writer {n}"}, expected_revision=base)
            return "ok"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(save, range(8)))
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]


@pytest.mark.parametrize("bad", ["con", "NUL", "com1.json", "lpt9", "x.", "a..b", ".hidden", "-dash", "a/b", ""])
def test_ids_that_cannot_be_file_names_everywhere_are_refused(bad):
    from comfyvn.core.errors import InvalidInput
    from comfyvn.projects.paths import check_id

    with pytest.raises(InvalidInput):
        check_id(bad)
    assert check_id("console") == "console" and check_id("v1.2") == "v1.2"


def test_stored_scenes_are_parsed_once_per_revision():
    from comfyvn.projects import store
    from tests.support.scenes import sample_scene

    scenes = store.collection("scene")
    scenes.create("default", sample_scene())
    first = store.get_scene("default", "sample")
    assert store.get_scene("default", "sample") is first  # same revision: no second parse
    changed = sample_scene()
    changed["title"] = "Changed"
    scenes.replace("default", "sample", changed)
    assert store.get_scene("default", "sample").title == "Changed"
