"""POST /roleplay/import (multipart, JSON, job), preview, corrections, cleaning; atomicity; events."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.projects.paths import project_dir
from comfyvn.server.app import create_app
from tests.conftest import assert_envelope
from tests.support.jobs_http import wait_job

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "sillytavern" / "synthetic"
SOLO = "Seraphina - 2024-09-28@01h00m07s.jsonl"
GROUP = "group chats__2024-09-28@02h10m00s.jsonl"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip("shared fixtures not present")
    return path.read_bytes()


def upload(client, name, data, **fields):
    return client.post("/roleplay/import", files={"file": (name, data)}, data={k: str(v).lower() if isinstance(v, bool)
                                                                              else str(v) for k, v in fields.items()})


def roleplay_files(project="default"):
    base = project_dir(project) / "roleplay"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_import_a_sillytavern_chat_end_to_end(client):
    seen = []
    modder_hooks.subscribe("on_roleplay_imported", seen.append)
    modder_hooks.subscribe("on_character_imported", seen.append)
    response = upload(client, SOLO, fixture(SOLO), detail_level="high")
    assert response.status_code == 200, response.text
    summary = response.json()
    uid = summary["uid"]
    assert uid.startswith("seraphina-2024-09-28-01h00m07s-") and summary["format"] == "sillytavern.jsonl"
    assert {(p["name"], p["role"]) for p in summary["participants"]} >= {("Seraphina", "character"), ("User", "user")}
    assert sorted(roleplay_files()) == [f"preview/{uid}.json", f"processed/{uid}.json", f"raw/{uid}.jsonl"]
    assert (project_dir("default") / "roleplay" / "raw" / f"{uid}.jsonl").read_bytes() == fixture(SOLO)
    scene = client.get(f"/api/scenes/{summary['scenes'][0]}").json()["data"]
    first = scene["nodes"][0]["beats"]
    assert any(b["kind"] == "say" and b["speaker"] == "seraphina" for b in first)
    assert all(b["source"]["chat"] == SOLO and b["source"]["message_index"] == 0 for b in first if "source" in b)
    played = client.post("/api/scenario/run/play", json={"scene_id": scene["id"], "seed": 3}).json()
    assert played["stopped"] == "finished"
    characters = {c["id"] for c in client.get("/api/characters").json()["items"]}
    assert "seraphina" in characters
    assert [e["event"] for e in seen][-1] == "on_roleplay_imported"
    assert seen[-1]["payload"]["uid"] == uid
    preview = client.get(f"/roleplay/preview/{uid}").json()
    assert preview["line_count"] > 0 and preview["excerpt"][0]["speaker"] == "Seraphina" and "messages" in preview["synopsis"]


def test_reimport_updates_the_same_import_and_matches_characters(client):
    first = upload(client, GROUP, fixture(GROUP)).json()
    again = upload(client, GROUP, fixture(GROUP), swipes_as_choices=True).json()
    assert again["uid"] == first["uid"] and again["scenes"] == first["scenes"]
    assert all(not c["created"] for c in again["characters"])
    assert {c["name"] for c in first["characters"]} == {"Seraphina", "Aria"}


def test_json_body_and_formats(client):
    body = {"name": "log.txt", "content": "Mira: Hi there!\nYou: Hello.\n---\nMira: Later that day...",
            "format": "transcript.plain"}
    summary = client.post("/roleplay/import", json=body).json()
    assert summary["format"] == "transcript.plain" and len(summary["scenes"]) == 2
    ids = {f["id"] for f in client.get("/roleplay/formats").json()["formats"]}
    assert {"sillytavern.jsonl", "sillytavern.txt", "discord.json", "oobabooga.json"} <= ids


@pytest.mark.parametrize(("body", "code", "needle"), [
    ({"name": "x.bin", "content": "\u0000\u0001"}, "unreadable_log", "x.bin"),
    ({"name": "x.txt", "content": "hello world"}, "unreadable_log", "not a chat log"),
    ({"name": "x.jsonl", "content": "{}", "format": "nope"}, "unreadable_log", "unknown format 'nope'"),
    ({"name": "x.jsonl", "content": "a", "content_base64": "YQ=="}, "invalid_input", "exactly one"),
    ({"name": "x.png", "content_base64": "***"}, "invalid_input", "base64"),
    ({"name": "x.txt", "content": "A: b", "detail_level": "extreme"}, "invalid_input", "detail_level"),
    ({"name": "x.txt", "content": "A: b", "project": "../etc"}, "invalid_input", "project"),
])
def test_bad_uploads(client, body, code, needle):
    error = assert_envelope(client.post("/roleplay/import", json=body), 422, code)
    assert needle in error["message"]
    assert roleplay_files() == []


def test_non_object_and_multipart_without_file(client):
    assert_envelope(client.post("/roleplay/import", json=[1, 2]), 422)
    assert_envelope(client.post("/roleplay/import", data={"project": "default"},
                                files={"other": ("a", b"b")}), 422)


def test_partly_broken_file_imports_what_it_can(client):
    data = fixture(SOLO) + b'\n{not json}\n{"name": "Seraphina", "is_user": false, "mes": 5}\n'
    summary = upload(client, "broken.jsonl", data).json()
    lines = {w["line"] for w in summary["warnings"]}
    total = data.count(b"\n") + 1
    assert {total - 2, total - 1} <= lines  # the last line is empty (the trailing newline)


def test_a_failed_write_leaves_nothing_behind(client, monkeypatch):
    from comfyvn.core import store as core_store

    upload(client, GROUP, fixture(GROUP))
    before = roleplay_files()
    scenes_before = client.get("/api/scenes").json()["items"]
    real = core_store.atomic_write_json

    def failing(path, obj, **kw):
        if "preview" in str(path):
            raise OSError("disk full")
        return real(path, obj, **kw)

    monkeypatch.setattr(core_store, "atomic_write_json", failing)
    with TestClient(client.app, raise_server_exceptions=False) as c:
        response = upload(c, SOLO, fixture(SOLO))
    assert response.status_code == 500
    assert roleplay_files() == before
    assert [s["id"] for s in client.get("/api/scenes").json()["items"]] == [s["id"] for s in scenes_before]


def test_corrections_and_cleaning(client):
    uid = upload(client, SOLO, fixture(SOLO)).json()["uid"]
    fixed = client.post("/roleplay/apply_corrections", json={
        "uid": uid, "messages": [{"index": 1, "text": "A corrected line."}], "speakers": {"User": "Ann"}}).json()
    assert "Ann" in [p["name"] for p in fixed["participants"]]
    processed = json.loads((project_dir("default") / "roleplay" / "processed" / f"{uid}.json").read_text())
    assert processed["messages"][1]["text"] == "A corrected line."
    cleaned = client.post("/roleplay/sample_llm", json={"uid": uid, "detail_level": "high"}).json()
    assert cleaned["cleaner"] == "offline" and cleaned["cleaned"] is True
    assert f"final/{uid}.json" in roleplay_files()
    assert_envelope(client.post("/roleplay/apply_corrections", json={"uid": uid, "messages": [{"index": 999}]}), 422)
    assert_envelope(client.post("/roleplay/apply_corrections", json={"uid": uid, "messages": [{"index": 1, "x": 1}]}),
                    422)
    assert_envelope(client.post("/roleplay/sample_llm", json={"uid": "missing-uid"}), 404, "not_found")
    assert_envelope(client.get("/roleplay/preview/missing-uid"), 404, "not_found")
    assert_envelope(client.get("/roleplay/preview/..%2Fx"), 404)


def test_large_upload_runs_as_a_job(live_server, monkeypatch):
    from comfyvn.server.routes import roleplay

    monkeypatch.setattr(roleplay, "INLINE_LIMIT", 100)
    response = httpx.post(live_server.base_url + "/roleplay/import", files={"file": (SOLO, fixture(SOLO))}, timeout=30)
    assert response.status_code == 202, response.text
    job = wait_job(live_server, response.json()["job_id"])
    assert job["state"] == "succeeded" and job["result"]["format"] == "sillytavern.jsonl"
    bad = httpx.post(live_server.base_url + "/roleplay/import", files={"file": ("junk.jsonl", b"x" * 500)}, timeout=30)
    failed = wait_job(live_server, bad.json()["job_id"])
    assert failed["state"] == "failed" and "junk.jsonl" in failed["error"]


def test_upload_over_the_body_limit_is_413(runtime_root):
    SettingsManager().save({"server": {"max_body_bytes": 2000}})
    with TestClient(create_app(configure_logging=False)) as client:
        assert_envelope(upload(client, SOLO, b"x" * 5000), 413, "payload_too_large")
    assert roleplay_files() == []


def test_the_import_job_only_ever_deletes_saved_uploads(tmp_path):
    from comfyvn.core.errors import InvalidInput
    from comfyvn.core.job_types import JobContext
    from comfyvn.roleplay.jobs import run_import

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ctx = JobContext("j", {"path": str(victim), "name": "x.jsonl"}, on_progress=lambda *a: None,
                     on_log=lambda line: None)
    with pytest.raises(InvalidInput, match="upload saved under"):
        run_import(ctx)
    assert victim.read_text() == "keep me"


def test_reimport_keeps_edits_unless_overwrite(client):
    uid = upload(client, SOLO, fixture(SOLO)).json()["uid"]
    client.post("/roleplay/apply_corrections", json={"uid": uid, "messages": [{"index": 1, "text": "MINE"}]})
    error = assert_envelope(upload(client, SOLO, fixture(SOLO)), 409, "import_edited")
    assert "overwrite=true" in error["message"]
    assert upload(client, SOLO, fixture(SOLO), overwrite=True).status_code == 200
    # a scene edited in the project protects the import too
    scene_id = client.get(f"/roleplay/preview/{uid}").json()["scenes"][0]
    scene = client.get(f"/api/scenes/{scene_id}").json()["data"]
    scene["title"] = "My title"
    assert client.put(f"/api/scenes/{scene_id}", json=scene).status_code == 200
    assert_envelope(upload(client, SOLO, fixture(SOLO)), 409, "import_edited")
    assert client.get(f"/api/scenes/{scene_id}").json()["data"]["title"] == "My title"


def test_an_import_is_a_timeline_of_its_scenes(client):
    body = {"name": "log.txt", "content": "Mira: Hi!\nYou: Hello.\n---\nMira: Later.\n---\nMira: Even later."}
    summary = client.post("/roleplay/import", json=body).json()
    timeline = client.get(f"/api/timelines/{summary['uid']}").json()["data"]
    assert timeline["scenes"] == summary["scenes"] and len(summary["scenes"]) == 3


def test_cards_and_lorebooks_sent_as_chats_are_pointed_elsewhere(client):
    yaml_card = "name: Mira\ncontext: A barista.\ngreeting: Hi!\n"
    error = assert_envelope(client.post("/roleplay/import", json={"name": "mira.yaml", "content": yaml_card}), 422,
                            "not_a_chat")
    assert "/st/import" in error["message"]
    world = json.dumps({"entries": {"0": {"uid": 0, "key": ["x"], "content": "lore"}}})
    assert_envelope(client.post("/roleplay/import", json={"name": "w.json", "content": world}), 422, "not_a_chat")
    assert roleplay_files() == []


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("broken.json", '{"messages": [1, 2,}', "not valid JSON"),
    ("broken.jsonl", '{"name": "A", "mes": 5}\n{"name": 3}', "line 1"),
    ("empty.txt", "   \n", "empty"),
])
def test_undetectable_files_get_a_precise_reason(client, name, content, needle):
    error = assert_envelope(client.post("/roleplay/import", json={"name": name, "content": content}), 422,
                            "unreadable_log")
    assert needle in error["message"]


def test_concurrent_imports_create_a_character_once(client):
    import threading

    results = []

    def run(n):
        body = {"name": f"chat{n}.txt", "content": f"Quill: Hello {n}!\nYou: Hi.", "format": "transcript.plain"}
        results.append(client.post("/roleplay/import", json=body).json())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [c for r in results for c in r["characters"] if c["created"]]
    assert len(results) == 8 and [c["id"] for c in created] == ["quill"]


def test_reimport_with_fewer_scenes_removes_the_old_ones(client):
    body = {"name": "log.txt", "content": "Mira: Hi!\n---\nMira: Later.\n---\nMira: Even later.",
            "format": "transcript.plain"}
    first = client.post("/roleplay/import", json=body).json()
    assert len(first["scenes"]) == 3
    fewer = client.post("/roleplay/apply_corrections", json={"uid": first["uid"], "messages": [
        {"index": 1, "hidden": True}, {"index": 2, "hidden": True}]}).json()
    assert len(fewer["scenes"]) == 1
    ids = {s["id"] for s in client.get("/api/scenes").json()["items"]}
    assert ids == set(fewer["scenes"])


def test_corrections_and_cleaning_keep_scene_edits_unless_overwrite(client):
    uid = upload(client, SOLO, fixture(SOLO)).json()["uid"]
    scene_id = client.get(f"/roleplay/preview/{uid}").json()["scenes"][0]
    scene = client.get(f"/api/scenes/{scene_id}").json()["data"]
    scene["title"] = "MY EDITED TITLE"
    client.put(f"/api/scenes/{scene_id}", json=scene)
    for path, body in (("/roleplay/apply_corrections", {"uid": uid, "messages": [{"index": 1, "text": "x"}]}),
                       ("/roleplay/sample_llm", {"uid": uid})):
        assert_envelope(client.post(path, json=body), 409, "import_edited")
        assert client.get(f"/api/scenes/{scene_id}").json()["data"]["title"] == "MY EDITED TITLE"
    processed = json.loads((project_dir("default") / "roleplay" / "processed" / f"{uid}.json").read_text())
    assert processed["messages"][1]["text"] != "x"  # the refused correction was not stored either
    done = client.post("/roleplay/apply_corrections", json={"uid": uid, "overwrite": True,
                                                            "messages": [{"index": 1, "text": "x"}]})
    assert done.status_code == 200


def test_concurrent_corrections_all_land(client):
    import threading

    body = {"name": "log.txt", "content": "\n".join(f"Mira: line {i}" for i in range(8)),
            "format": "transcript.plain"}
    uid = client.post("/roleplay/import", json=body).json()["uid"]
    threads = [threading.Thread(target=client.post, args=("/roleplay/apply_corrections",),
                                kwargs={"json": {"uid": uid, "messages": [{"index": i, "text": f"fixed {i}"}]}})
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processed = json.loads((project_dir("default") / "roleplay" / "processed" / f"{uid}.json").read_text())
    assert [m["text"] for m in processed["messages"]] == [f"fixed {i}" for i in range(8)]


def test_a_chat_that_went_on_updates_the_same_import(client):
    first = upload(client, SOLO, fixture(SOLO)).json()
    longer = fixture(SOLO) + b'\n{"name": "Seraphina", "is_user": false, "mes": "And the story goes on."}'
    second = upload(client, SOLO, longer).json()
    assert second["uid"] == first["uid"] and second["messages"] == first["messages"] + 1
    other = upload(client, "other.jsonl", fixture(SOLO)).json()
    assert other["uid"] != first["uid"]


def test_images_and_group_files_sent_as_chats_get_a_precise_reason(client):
    import base64

    plain_png = FIXTURES.parent / "default-content" / "joy.png"
    if not plain_png.exists():
        pytest.skip("shared fixtures not present")
    error = assert_envelope(client.post("/roleplay/import", json={
        "name": "joy.png", "content_base64": base64.b64encode(plain_png.read_bytes()).decode()}), 422, "not_a_chat")
    assert "no character card" in error["message"]
    group = (FIXTURES / "groups__1727482200000.json").read_bytes()
    error = assert_envelope(client.post("/roleplay/import", json={"name": "g.json", "content": group.decode()}), 422,
                            "not_a_chat")
    assert "group definition" in error["message"]
