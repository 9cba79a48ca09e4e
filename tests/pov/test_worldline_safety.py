"""Worldlines under concurrent writers and with damaged files: no lost updates, revisions checked,
damaged files reported instead of breaking the listings."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import filelock
import pytest

from comfyvn.config import feature_flags
from comfyvn.projects.paths import project_dir
from comfyvn.projects.store import project_lock
from tests.conftest import assert_envelope
from tests.pov.samples import scene

POV = "/api/pov"
WRITERS = 16


@pytest.fixture
def main(client):
    answer = client.post(f"{POV}/fork", json={"scene": scene(), "node": "fork", "id": "main"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def worldline_file(worldline_id: str, project: str = "default"):
    return project_dir(project) / "worldlines" / f"{worldline_id}.json"


# -- lost updates ----------------------------------------------------------------------------------

def test_parallel_patches_all_land(client, main):
    """Each writer adds its own node; every one must survive (the review saw 3 of 16)."""
    barrier = threading.Barrier(WRITERS)
    answers: list[int] = []

    def add_node(i: int) -> None:
        barrier.wait()
        answer = client.patch(f"{POV}/worlds/main", json={"nodes": [{"id": f"extra{i}", "text": "x", "end": True}]})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=add_node, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * WRITERS
    ids = {n["id"] for n in client.get(f"{POV}/worlds/main").json()["scene"]["nodes"]}
    assert {f"extra{i}" for i in range(WRITERS)} <= ids


def lock_held_elsewhere(project: str) -> bool:
    """Whether another thread holds the project's write lock right now (asked without waiting)."""
    held: list[bool] = []

    def probe() -> None:
        lock = project_lock(project)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            held.append(True)
        else:
            lock.release()
            held.append(False)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return held[0]


def test_every_write_reads_worldline_files_under_the_project_lock(client, main, monkeypatch):
    """Read-edit-validate-write must be one locked step for every writer, or parallel writers
    overwrite each other with stale results."""
    feature_flags.set_enabled("enable_diffmerge_tools", True)
    assert client.post(f"{POV}/fork", json={"worldline": "main", "node": "boat", "id": "side"}).status_code == 201
    unlocked: list[str] = []
    real_read_bytes = Path.read_bytes

    def probing(self: Path) -> bytes:
        if self.parent.name == "worldlines" and not lock_held_elsewhere("default"):
            unlocked.append(self.name)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", probing)
    calls = {
        "patch": lambda: client.patch(f"{POV}/worlds/side", json={"name": "Side"}),
        "put": lambda: client.put(f"{POV}/worlds/side", json={"metadata": {"a": 1}}),
        "activate": lambda: client.post(f"{POV}/worlds/side/activate"),
        "set": lambda: client.post(f"{POV}/set", json={"pov": "bob", "worldline": "side"}),
        "fork": lambda: client.post(f"{POV}/fork", json={"worldline": "side", "node": "boat", "id": "leaf"}),
        "merge": lambda: client.post("/api/diffmerge/worldlines/merge", json={"source": "side"}),
        "delete": lambda: client.delete(f"{POV}/worlds/leaf"),
    }
    for name, call in calls.items():
        answer = call()
        assert answer.status_code in (200, 201), (name, answer.text)
        assert unlocked == [], f"{name} read {unlocked} without holding the project lock"


# -- revisions ---------------------------------------------------------------------------------------

def test_answers_carry_the_revision_of_the_file(client, main):
    from comfyvn.projects.store import revision_of

    revision = revision_of(worldline_file("main").read_bytes())
    assert main["revision"] == revision
    assert client.get(f"{POV}/worlds/main").json()["revision"] == revision
    listed = client.get(f"{POV}/worlds").json()["worldlines"]
    assert [w["revision"] for w in listed] == [revision]
    assert "revision" not in json.loads(worldline_file("main").read_bytes())  # not stored in the file
    patched = client.patch(f"{POV}/worlds/main", json={"name": "Renamed"}).json()
    assert patched["revision"] == revision_of(worldline_file("main").read_bytes()) != revision


def test_expected_revision_refuses_a_stale_write(client, main):
    old = main["revision"]
    fresh = client.patch(f"{POV}/worlds/main", params={"expected_revision": old}, json={"name": "First"})
    assert fresh.status_code == 200, fresh.text
    for method in ("PATCH", "PUT"):
        error = assert_envelope(client.request(method, f"{POV}/worlds/main", params={"expected_revision": old},
                                               json={"name": "Second"}), 409, "conflict")
        assert error["details"] == {"expected_revision": old, "current_revision": fresh.json()["revision"]}
    assert_envelope(client.delete(f"{POV}/worlds/main", params={"expected_revision": old}), 409, "conflict")
    assert client.get(f"{POV}/worlds/main").json()["name"] == "First"
    now = fresh.json()["revision"]
    assert client.put(f"{POV}/worlds/main", params={"expected_revision": now}, json={"name": "Third"}).status_code == 200
    now = client.get(f"{POV}/worlds/main").json()["revision"]
    assert client.delete(f"{POV}/worlds/main", params={"expected_revision": now}).status_code == 200


# -- damaged files -----------------------------------------------------------------------------------

DAMAGE = {
    "not_json": '{"id": "bad", "sce',
    "scene_not_object": None,   # filled in from a real record below
    "missing_parent": None,
    "not_an_object": "[1, 2]",
}


def damage(kind: str, record: dict) -> str:
    broken = {k: v for k, v in record.items() if k != "revision"} | {"id": "bad"}
    if kind == "scene_not_object":
        broken["scene"] = "oops"
    elif kind == "missing_parent":
        del broken["parent"]
    else:
        return DAMAGE[kind]
    return json.dumps(broken)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_worldline_is_reported_not_fatal(client, main, kind):
    feature_flags.set_enabled("enable_diffmerge_tools", True)
    text = damage(kind, main)
    worldline_file("bad").write_text(text, encoding="utf-8")
    listing = client.get(f"{POV}/worlds")
    assert listing.status_code == 200, listing.text
    assert [w["id"] for w in listing.json()["worldlines"]] == ["main"]
    assert [d["id"] for d in listing.json()["damaged"]] == ["bad"] and listing.json()["damaged"][0]["error"]
    graph = client.get("/api/diffmerge/worldlines/graph")
    assert graph.status_code == 200, graph.text
    assert [n["id"] for n in graph.json()["nodes"]] == ["scene:harbor", "main"]
    assert [d["id"] for d in graph.json()["damaged"]] == ["bad"]
    error = assert_envelope(client.get(f"{POV}/worlds/bad"), 409, "worldline_damaged")
    assert "bad.json" in error["message"]
    assert_envelope(client.patch(f"{POV}/worlds/bad", json={"name": "x"}), 409, "worldline_damaged")
    assert_envelope(client.post(f"{POV}/worlds/bad/activate"), 409, "worldline_damaged")
    assert worldline_file("bad").read_text(encoding="utf-8") == text  # nothing moved, nothing deleted
    assert sorted(p.name for p in worldline_file("bad").parent.iterdir()) == ["bad.json", "main.json"]
    assert client.delete(f"{POV}/worlds/bad").status_code == 200  # the user may delete it on purpose
    assert client.get(f"{POV}/worlds").json()["damaged"] == []
