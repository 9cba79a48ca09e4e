"""/player/*: the persona roster over HTTP (import, active persona, delete) and its errors."""

from __future__ import annotations

from tests.conftest import assert_envelope
from tests.sillytavern.builders import fixture

BACKUP = "sillytavern/synthetic/personas_20240928.json"


def test_roster_import_and_active_persona(client):
    assert client.get("/player/personas").json() == {"personas": [], "default": None, "active": None}
    assert client.get("/player/active").json() == {"active": None}
    imported = client.post("/player/import", content=fixture(BACKUP), headers={"content-type": "application/json"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["added"] == ["user-default", "1727478000000-wanderer"]
    roster = client.get("/player/personas").json()
    assert [p["name"] for p in roster["personas"]] == ["Wanderer", "User"] and roster["active"] == "user-default"
    chosen = client.post("/player/active", json={"id": "1727478000000-wanderer"})
    assert chosen.status_code == 200 and chosen.json()["active"]["name"] == "Wanderer"
    assert client.get("/player/active").json()["active"]["id"] == "1727478000000-wanderer"
    assert client.get("/player/personas/user-default").json()["name"] == "User"
    assert client.post("/player/active", json={"id": None}).json() == {"active": None}
    assert client.get("/player/active").json() == {"active": None}
    upload = client.post("/player/import", files={"file": ("personas.json", fixture(BACKUP))})
    assert upload.status_code == 200 and sorted(upload.json()["unchanged"]) == ["1727478000000-wanderer",
                                                                                 "user-default"]
    client.post("/player/active", json={"id": "user-default"})
    deleted = client.delete("/player/personas/user-default").json()
    assert deleted == {"id": "user-default", "deleted": True, "active_cleared": True}
    assert client.get("/player/active").json() == {"active": None}


def test_player_errors(client):
    missing = assert_envelope(client.post("/player/active", json={"id": "nobody"}), 404, "not_found")
    assert "nobody" in missing["message"]
    assert_envelope(client.post("/player/active", json={}), 422)  # id is required (null clears)
    assert_envelope(client.post("/player/active", json={"id": 5}), 422)
    assert_envelope(client.post("/player/active", json={"id": "x", "extra": 1}), 422)
    assert_envelope(client.post("/player/active", json={"id": "../x"}), 422)
    assert_envelope(client.delete("/player/personas/nobody"), 404, "not_found")
    assert_envelope(client.get("/player/personas/nobody"), 404, "not_found")
    bad = assert_envelope(client.post("/player/import", json={"theme": "dark"}), 422, "unreadable_personas")
    assert "personas" in bad["message"]
    assert_envelope(client.post("/player/import", content=b"{not json",
                                headers={"content-type": "application/json"}), 422, "unreadable_personas")
    wrong = assert_envelope(client.post("/player/import", json={"personas": ["Wanderer"]}), 422, "unreadable_personas")
    assert wrong["details"]["field"] == "personas" and "'personas' is list" in wrong["message"]
    assert_envelope(client.post("/player/import", content=b""), 422)
    assert_envelope(client.post("/player/import", files={"other": ("a", b"b")}), 422)
    assert client.get("/player/personas").json()["personas"] == []


def test_import_over_the_body_limit_is_413(client):
    from comfyvn.config.settings import SettingsManager

    SettingsManager().set("server.max_body_bytes", 100)  # the app's middleware keeps its own (startup) limit
    big = fixture(BACKUP) + b" " * 200
    assert_envelope(client.post("/player/import", content=big, headers={"content-type": "application/json"}), 413,
                    "payload_too_large")
    assert_envelope(client.post("/player/import", files={"file": ("personas.json", big)}), 413, "payload_too_large")
    assert client.get("/player/personas").json()["personas"] == []
