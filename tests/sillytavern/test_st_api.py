"""POST /st/import: a SillyTavern folder on the server (blocking and as a job), uploads, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from comfyvn.config import runtime_paths
from comfyvn.projects import store
from tests.conftest import assert_envelope
from tests.sillytavern.builders import fixture
from tests.sillytavern.test_importer import SOLO, make_library
from tests.support.jobs_http import wait_job


@pytest.fixture
def library(tmp_path) -> Path:
    make_library(tmp_path / "SillyTavern")
    return tmp_path / "SillyTavern"


def by_item(body: dict) -> dict[str, dict]:
    return {row["item"]: row for row in body["items"]}


def test_import_a_folder_in_the_request(client, library):
    response = client.post("/st/import", json={"path": str(library), "blocking": True, "detail_level": "high"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"]["user"] == "default-user" and body["plan"]["layout"] == "data"
    assert body["counts"]["error"] == 2 and body["counts"]["ok"] == body["counts"]["total"] - 2
    rows = by_item(body)
    assert rows["characters/broken.png"]["error"]["code"] == "unreadable_card"
    assert rows["characters/Mira.charx"]["result"]["expressions"] == ["joy", "sadness"]
    characters = {c["id"] for c in client.get("/api/characters").json()["items"]}
    assert {"seraphina", "mira", "nova", "aria"} <= characters
    assert "eldoria" in {w["id"] for w in client.get("/api/worlds").json()["items"]}
    assert len(client.get("/api/scenes").json()["items"]) >= 2
    personas = client.get("/player/personas").json()
    assert personas["active"] == "1727478000000-wanderer" and len(personas["personas"]) == 3
    assert client.get("/player/active").json()["active"]["name"] == "Wanderer"


def test_relative_path_kinds_and_user(client, library):
    body = client.post("/st/import", json={"root": str(library), "path": "data", "user": "default-user",
                                           "kinds": ["worlds", "personas"]}).json()
    assert {row["kind"] for row in body["items"]} == {"world", "personas"}
    assert client.get("/api/characters").json()["items"] == []
    single = client.post("/st/import", json={"path": str(library / "data/default-user/worlds/Eldoria.json")})
    assert single.status_code == 200 and single.json()["items"][0]["id"] == "eldoria"


def test_bad_paths_and_options(client, library, tmp_path):
    missing = assert_envelope(client.post("/st/import", json={"path": str(tmp_path / "nowhere")}), 422, "invalid_path")
    assert str(tmp_path / "nowhere") in missing["message"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("buy milk")
    foreign = assert_envelope(client.post("/st/import", json={"path": str(tmp_path / "notes")}), 422,
                              "not_sillytavern_folder")
    assert "data/<user>/" in foreign["message"] and str(tmp_path / "notes") in foreign["message"]
    assert "relative" in assert_envelope(client.post("/st/import", json={"path": "data"}), 422)["message"]
    assert_envelope(client.post("/st/import", json={}), 422)
    assert_envelope(client.post("/st/import", json={"path": str(library), "kinds": ["songs"]}), 422)
    assert_envelope(client.post("/st/import", json={"path": str(library), "kinds": []}), 422)
    assert_envelope(client.post("/st/import", json={"path": str(library), "surprise": 1}), 422)
    assert_envelope(client.post("/st/import", json={"path": str(library), "project": "nope"}), 404, "not_found")
    assert_envelope(client.post("/st/import", json=[1]), 422)
    assert_envelope(client.post("/st/import", content=b"{not json", headers={"content-type": "application/json"}), 422)
    make_library(library, "alice")
    make_library(library, "bob")
    (library / "data" / "default-user").rename(library / "data" / "carol")
    several = assert_envelope(client.post("/st/import", json={"path": str(library)}), 422, "user_required")
    assert several["details"]["users"] == ["alice", "bob", "carol"]
    assert_envelope(client.post("/st/import", json={"path": str(library), "user": "dave"}), 422, "unknown_user")
    broken = library / "data" / "alice" / "characters" / "broken.png"
    failed = assert_envelope(client.post("/st/import", json={"path": str(broken)}), 422, "unreadable_card")
    assert "broken.png" in failed["message"]
    assert store.collection("character").ids() == []


def test_uploads(client):
    files = [("files", ("default_Seraphina.png", fixture("sillytavern/default-content/default_Seraphina.png"))),
             ("files", ("Eldoria.json", fixture("sillytavern/default-content/Eldoria.json"))),
             ("files", ("personas_20240928.json", fixture("sillytavern/synthetic/personas_20240928.json"))),
             ("files", (SOLO, fixture(f"sillytavern/synthetic/{SOLO}"))),
             ("files", ("junk.png", b"\x89PNG\r\n\x1a\n"))]
    response = client.post("/st/import", files=files, data={"kinds": "worlds,personas,characters,chats"})
    assert response.status_code == 200, response.text
    rows = by_item(response.json())
    assert [rows[name]["kind"] for name in ("default_Seraphina.png", "Eldoria.json", "personas_20240928.json", SOLO)] \
        == ["card", "world", "personas", "chat"]
    assert rows["junk.png"]["status"] == "error" and response.json()["counts"]["ok"] == 4
    assert client.get("/player/active").json()["active"]["id"] == "user-default"
    only = client.post("/st/import", files=[("files", (SOLO, fixture(f"sillytavern/synthetic/{SOLO}")))],
                       data={"kinds": "worlds"})
    assert only.json()["items"][0]["status"] == "skipped"
    assert_envelope(client.post("/st/import", files=[("files", ("junk.png", b"\x89PNG\r\n\x1a\n"))]), 422,
                    "unreadable_card")
    assert_envelope(client.post("/st/import", data={"project": "default"}, files={"other": ("a", b"b")}), 422)
    assert_envelope(client.post("/st/import", files=[("files", ("a.json", b"{}"))], data={"path": "/tmp"}), 422)
    assert_envelope(client.post("/st/import", files=[("files", ("a.json", b"{}"))], data={"detail_level": "x"}), 422)


def test_a_large_folder_runs_as_a_job(live_server, library, monkeypatch):
    from comfyvn.server.routes import st

    monkeypatch.setattr(st, "INLINE_ITEMS", 3)
    response = httpx.post(live_server.base_url + "/st/import", json={"path": str(library)}, timeout=30)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["items"] > 3 and queued["status_url"] == f"/jobs/{queued['job_id']}"
    job = wait_job(live_server, queued["job_id"])
    assert job["state"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["counts"]["error"] == 2
    assert {"seraphina", "mira"} <= set(store.collection("character").ids())
    blocking = httpx.post(live_server.base_url + "/st/import", json={"path": str(library), "blocking": True},
                          timeout=30)
    assert blocking.status_code == 200 and blocking.json()["counts"]["ok"] >= 5


def test_many_uploads_run_as_a_job_and_the_uploads_are_removed(live_server, monkeypatch):
    from comfyvn.server.routes import st

    monkeypatch.setattr(st, "INLINE_ITEMS", 1)
    files = [("files", ("Eldoria.json", fixture("sillytavern/default-content/Eldoria.json"))),
             ("files", (SOLO, fixture(f"sillytavern/synthetic/{SOLO}")))]
    response = httpx.post(live_server.base_url + "/st/import", files=files, timeout=30)
    assert response.status_code == 202, response.text
    job = wait_job(live_server, response.json()["job_id"])
    assert job["state"] == "succeeded" and job["result"]["counts"]["ok"] == 2
    uploads = runtime_paths.cache_dir() / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    junk = [("files", ("a.png", b"\x89PNG\r\n\x1a\n")), ("files", ("b.json", json.dumps([1]).encode()))]
    bad = httpx.post(live_server.base_url + "/st/import", timeout=30, files=junk)
    failed = wait_job(live_server, bad.json()["job_id"])
    assert failed["state"] == "failed" and "none of the 2 item(s)" in failed["error"]


def test_reimporting_a_card_keeps_the_users_edits_unless_overwrite(client):
    card = [("files", ("default_Seraphina.png", fixture("sillytavern/default-content/default_Seraphina.png")))]
    first = client.post("/st/import", files=card)
    assert first.status_code == 200, first.text
    cid = first.json()["items"][0]["id"]
    again = client.post("/st/import", files=card)  # unedited: imported again
    assert again.status_code == 200 and again.json()["items"][0]["result"]["created"] is False
    record = client.get(f"/api/characters/{cid}").json()["data"]
    imported = record["description"]
    edited = client.put(f"/api/characters/{cid}", json={**record, "description": "My own words."})
    assert edited.status_code == 200, edited.text
    refused = assert_envelope(client.post("/st/import", files=card), 409, "import_edited")
    assert "description" in refused["message"] and "overwrite" in refused["message"]
    assert refused["details"]["records"] == [{"kind": "character", "id": cid, "fields": ["description"]}]
    assert client.get(f"/api/characters/{cid}").json()["data"]["description"] == "My own words."
    replaced = client.post("/st/import", files=card, data={"overwrite": "true"})
    assert replaced.status_code == 200, replaced.text
    assert client.get(f"/api/characters/{cid}").json()["data"]["description"] == imported


def test_reimporting_an_edited_world_and_records_without_a_digest(client):
    world = [("files", ("Eldoria.json", fixture("sillytavern/default-content/Eldoria.json")))]
    wid = client.post("/st/import", files=world).json()["items"][0]["id"]
    record = client.get(f"/api/worlds/{wid}").json()["data"]
    entries = [{**record["entries"][0], "content": "Changed."}, *record["entries"][1:]]
    client.put(f"/api/worlds/{wid}", json={**record, "entries": entries})
    refused = assert_envelope(client.post("/st/import", files=world), 409, "import_edited")
    assert refused["details"]["records"] == [{"kind": "world", "id": wid, "fields": ["entries"]}]
    assert client.get(f"/api/worlds/{wid}").json()["data"]["entries"][0]["content"] == "Changed."
    # an older import (no digest in its metadata) counts as unedited
    record = client.get(f"/api/worlds/{wid}").json()["data"]
    meta = {k: v for k, v in record["metadata"].items() if k != "import_digest"}
    client.put(f"/api/worlds/{wid}", json={**record, "metadata": meta})
    assert client.post("/st/import", files=world).status_code == 200
    assert client.get(f"/api/worlds/{wid}").json()["data"]["entries"][0]["content"] != "Changed."


def test_an_edited_chat_import_can_be_overwritten_and_keeps_its_409(client, monkeypatch):
    from comfyvn.core.errors import Conflict
    from comfyvn.roleplay import service

    seen = []

    def import_log(data, name, **options):
        seen.append(options["overwrite"])
        if not options["overwrite"]:
            raise Conflict("import 'x' has edits: send overwrite=true", code="import_edited")
        return real(data, name, **options)

    real = service.import_log
    monkeypatch.setattr(service, "import_log", import_log)
    chat = [("files", (SOLO, fixture(f"sillytavern/synthetic/{SOLO}")))]
    assert_envelope(client.post("/st/import", files=chat), 409, "import_edited")
    assert client.post("/st/import", files=chat, data={"overwrite": "true"}).status_code == 200
    assert seen == [False, True]
