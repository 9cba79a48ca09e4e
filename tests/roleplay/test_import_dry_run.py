"""POST /roleplay/import with dry_run (and POST /st/import with dry_run): the preview an import would
store, with nothing written."""

from __future__ import annotations

import pytest

from comfyvn.core import modder_hooks
from comfyvn.projects.paths import project_dir
from tests.conftest import assert_envelope
from tests.roleplay.test_import_api import GROUP, SOLO, fixture, roleplay_files, upload


def project_files(project: str = "default") -> list[str]:
    base = project_dir(project)
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_a_dry_run_previews_the_import_and_writes_nothing(client):
    seen = []
    for event in ("on_roleplay_imported", "on_character_imported"):
        modder_hooks.subscribe(event, seen.append)
    assert client.get("/api/scenes").json()["items"] == []  # the default project exists from its first use
    before = project_files()
    response = upload(client, GROUP, fixture(GROUP), dry_run=True, detail_level="high")
    assert response.status_code == 200, response.text
    dry = response.json()
    assert dry["dry_run"] is True and dry["exists"] is False and dry["conflict"] is None
    assert {p["name"] for p in dry["participants"]} >= {"Seraphina", "Aria"}
    assert dry["line_count"] > 0 and dry["excerpt"] and "scene(s)" in dry["synopsis"]
    assert {c["name"] for c in dry["characters"] if c["created"]} == {"Seraphina", "Aria"}
    assert project_files() == before and roleplay_files() == [] and seen == []
    assert client.get("/api/scenes").json()["items"] == []
    assert client.get("/api/characters").json()["items"] == []
    assert_envelope(client.get(f"/roleplay/preview/{dry['uid']}"), 404, "not_found")
    # the real import stores exactly the preview the dry run showed, under the same uid and scene ids
    summary = upload(client, GROUP, fixture(GROUP), detail_level="high").json()
    stored = client.get(f"/roleplay/preview/{summary['uid']}").json()
    assert {k: v for k, v in dry.items() if k not in ("dry_run", "project", "exists", "conflict", "characters")} \
        == stored
    assert summary["scenes"] == dry["scenes"]
    again = upload(client, GROUP, fixture(GROUP), dry_run=True).json()
    assert again["exists"] is True and all(not c["created"] for c in again["characters"])


def test_json_dry_run_and_options(client):
    body = {"name": "log.txt", "content": "Mira: Hi!\n---\nMira: Later.", "format": "transcript.plain",
            "dry_run": True}
    dry = client.post("/roleplay/import", json=body).json()
    assert dry["dry_run"] is True and len(dry["scenes"]) == 2 and dry["format"] == "transcript.plain"
    assert roleplay_files() == []


def test_a_dry_run_reports_the_conflict_an_import_would_answer(client):
    uid = upload(client, SOLO, fixture(SOLO)).json()["uid"]
    client.post("/roleplay/apply_corrections", json={"uid": uid, "messages": [{"index": 1, "text": "MINE"}]})
    files = roleplay_files()
    dry = upload(client, SOLO, fixture(SOLO), dry_run=True).json()
    assert dry["exists"] is True and dry["conflict"]["code"] == "import_edited"
    assert "overwrite=true" in dry["conflict"]["message"]
    assert upload(client, SOLO, fixture(SOLO), dry_run=True, overwrite=True).json()["conflict"] is None
    assert roleplay_files() == files
    assert_envelope(upload(client, SOLO, fixture(SOLO)), 409, "import_edited")


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "x.bin", "content": "\u0000\u0001"}, "unreadable_log"),
    ({"name": "broken.jsonl", "content": '{"name": "A", "mes": 5}\n{"name": 3}'}, "unreadable_log"),
    ({"name": "mira.yaml", "content": "name: Mira\ncontext: A barista.\ngreeting: Hi!\n"}, "not_a_chat"),
    ({"name": "x.txt", "content": "A: b", "detail_level": "extreme"}, "invalid_input"),
    ({"name": "x.txt", "content": "A: b", "project": "../etc"}, "invalid_input"),
])
def test_malformed_input_fails_the_dry_run_like_the_import(client, body, code):
    real = assert_envelope(client.post("/roleplay/import", json=body), 422, code)
    dry = assert_envelope(client.post("/roleplay/import", json=body | {"dry_run": True}), 422, code)
    assert dry["message"] == real["message"] and dry["details"] == real["details"]
    assert roleplay_files() == []


def test_a_dry_run_of_a_missing_project_is_404(client):
    assert_envelope(upload(client, SOLO, fixture(SOLO), dry_run=True, project="nowhere"), 404)


def test_a_large_dry_run_answers_in_the_request(client, monkeypatch):
    from comfyvn.server.routes import roleplay

    monkeypatch.setattr(roleplay, "INLINE_LIMIT", 100)
    response = upload(client, SOLO, fixture(SOLO), dry_run=True)
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert roleplay_files() == []


def test_st_dry_run_lists_a_folder_without_importing(client, tmp_path):
    from tests.sillytavern.test_importer import make_library

    make_library(tmp_path / "SillyTavern")
    body = client.post("/st/import", json={"path": str(tmp_path / "SillyTavern"), "dry_run": True}).json()
    assert body["dry_run"] is True and body["plan"]["user"] == "default-user"
    counts = body["counts"]
    assert counts["chats"] >= 2 and counts["characters"] >= 3 and counts["worlds"] >= 1 and counts["personas"] == 1
    assert sum(counts.values()) == len(body["items"]) == body["plan"]["items"]
    assert client.get("/api/characters").json()["items"] == [] and client.get("/api/scenes").json()["items"] == []
    uploaded = client.post("/st/import", data={"dry_run": "true", "kinds": "chats"},
                           files=[("files", (SOLO, fixture(SOLO))), ("files", ("w.json", b'{"entries": {}}'))]).json()
    assert uploaded["counts"] == {"chats": 1, "characters": 0, "worlds": 0, "personas": 0, "groups": 0,
                                       "unclassified": 0, "skipped": 1}
    assert project_files() == ["project.json"]
