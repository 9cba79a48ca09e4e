"""The persona registry (plain Python, no server): roster merge, active persona, files on disk."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.player import registry
from comfyvn.sillytavern.personas import Persona
from tests.sillytavern.builders import fixture

BACKUP = "sillytavern/synthetic/personas_20240928.json"


def test_import_a_backup_sets_the_default_and_the_active_persona(runtime_root):
    result = registry.import_file(fixture(BACKUP), "personas_20240928.json")
    assert result["added"] == ["user-default", "1727478000000-wanderer"] and result["updated"] == []
    assert result["default"] == result["active"] == "user-default" and result["warnings"] == []
    roster = json.loads(registry.roster_path().read_text())
    assert [p["id"] for p in roster["personas"]] == ["1727478000000-wanderer", "user-default"]  # sorted by id
    assert roster["default"] == "user-default" and roster["version"] == 1
    state = json.loads(registry.state_path().read_text())
    assert state["active"] == "user-default" and state["updated_at"].endswith("Z")
    assert registry.state_path() == runtime_root / "data" / "persona" / "state.json"


def test_merge_by_id_reports_added_updated_unchanged():
    registry.import_file(fixture(BACKUP), "backup.json")
    registry.set_active("1727478000000-wanderer")
    again = registry.import_file(fixture(BACKUP), "backup.json")
    assert again["added"] == [] and again["updated"] == [] and sorted(again["unchanged"]) == [
        "1727478000000-wanderer", "user-default"]
    assert again["active"] == "1727478000000-wanderer"  # an import never replaces the player's choice
    changed = json.loads(fixture(BACKUP))
    changed["personas"]["1727478000000-Wanderer.png"] = "Wanderer of the Glade"
    changed["personas"]["Nova.png"] = "Nova"
    result = registry.import_file(json.dumps(changed).encode(), "newer.json")
    assert result["added"] == ["nova"] and result["updated"] == ["1727478000000-wanderer"]
    assert registry.active_name() == "Wanderer of the Glade"


def test_active_persona_choice_works_offline_and_is_checked():
    assert registry.active() is None and registry.active_name() is None
    registry.import_roster([Persona(id="ann", avatar="ann.png", name="Ann"),
                            Persona(id="bo", avatar="bo.png", name="Bo")])
    assert registry.list_personas()["active"] is None  # no default: nothing chosen yet
    assert registry.set_active("bo")["name"] == "Bo"
    assert json.loads(registry.state_path().read_text())["active"] == "bo"
    with pytest.raises(NotFound) as unknown:
        registry.set_active("cy")
    assert "ann, bo" in unknown.value.message
    with pytest.raises(InvalidInput):
        registry.set_active("../etc")
    assert registry.set_active(None) is None and registry.active() is None


def test_delete_clears_the_active_persona_and_the_default():
    registry.import_file(fixture(BACKUP), "backup.json")
    assert registry.delete_persona("user-default") == {"id": "user-default", "deleted": True, "active_cleared": True}
    listing = registry.list_personas()
    assert listing["active"] is None and listing["default"] is None and len(listing["personas"]) == 1
    assert registry.delete_persona("1727478000000-wanderer")["active_cleared"] is False
    with pytest.raises(NotFound):
        registry.delete_persona("user-default")


def test_avatars_are_copied_and_removed_with_their_persona():
    png = fixture("sillytavern/default-content/user-default.png")
    result = registry.import_file(fixture(BACKUP), "backup.json", avatars={"user-default.png": png,
                                                                           "../../evil.png": b"x"})
    assert result["avatars"] == ["user-default"]
    copied = registry.persona_dir() / "avatars" / "user-default.png"
    assert copied.read_bytes() == png
    assert registry.get_persona("user-default")["metadata"]["avatar_path"] == "avatars/user-default.png"
    registry.delete_persona("user-default")
    assert not copied.exists()


def test_bad_files_and_a_damaged_roster():
    with pytest.raises(InvalidInput) as error:
        registry.import_file(b'{"theme": "dark"}', "settings.json")
    assert error.value.code == "unreadable_personas" and "personas" in error.value.message
    with pytest.raises(InvalidInput):
        registry.import_file(b"[" * 5000, "deep.json")
    assert not registry.roster_path().exists()  # nothing written for a refused file
    registry.import_file(fixture(BACKUP), "backup.json")
    registry.roster_path().write_text("{torn")
    assert registry.list_personas() == {"personas": [], "default": None, "active": None}
    assert list(registry.persona_dir().glob("personas.json.corrupt-*"))  # kept aside for inspection


def test_concurrent_imports_do_not_lose_personas():
    def add(n: int) -> None:
        registry.import_roster([Persona(id=f"p{n}", avatar=f"p{n}.png", name=f"P{n}")])

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p["id"] for p in registry.list_personas()["personas"]] == [f"p{n}" for n in range(8)]


@pytest.fixture
def failing_state_write(monkeypatch):
    """Every write of persona/state.json fails (a full disk) from the moment it is switched on."""
    real = os.replace
    switch = {"on": False}

    def replace(src, dst, *args, **kwargs):
        if switch["on"] and Path(dst).name == "state.json":
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return switch


def snapshot() -> dict[str, bytes]:
    folder = registry.persona_dir()
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def test_a_failed_import_leaves_roster_state_and_avatars_as_they_were(failing_state_write):
    registry.import_file(fixture(BACKUP), "backup.json")
    registry.set_active(None)
    before = snapshot()
    failing_state_write["on"] = True
    png = fixture("sillytavern/default-content/user-default.png")
    changed = json.loads(fixture(BACKUP))
    changed["personas"]["Nova.png"] = "Nova"  # a new persona, an avatar, and the default becomes active
    with pytest.raises(OSError, match="No space left"):
        registry.import_file(json.dumps(changed).encode(), "newer.json", avatars={"user-default.png": png})
    assert snapshot() == before  # the roster written before the state was put back; the avatar removed
    failing_state_write["on"] = False
    assert [p["id"] for p in registry.list_personas()["personas"]] == ["1727478000000-wanderer", "user-default"]


def test_a_failed_delete_leaves_the_persona_and_its_avatar(failing_state_write):
    png = fixture("sillytavern/default-content/user-default.png")
    registry.import_file(fixture(BACKUP), "backup.json", avatars={"user-default.png": png})
    before = snapshot()
    assert "avatars/user-default.png" in before and registry.active()["id"] == "user-default"
    failing_state_write["on"] = True
    with pytest.raises(OSError, match="No space left"):
        registry.delete_persona("user-default")  # the active one: roster, state and avatar change together
    assert snapshot() == before
    failing_state_write["on"] = False
    assert registry.get_persona("user-default")["metadata"]["avatar_path"] == "avatars/user-default.png"
