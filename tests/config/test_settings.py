"""SettingsManager: defaults, dotted keys, deep-merge saves, change notifications, files shared
with other programs."""

from __future__ import annotations

import json

import pytest

from comfyvn.config import settings as settings_module
from comfyvn.config.settings import DEFAULTS, SettingsManager
from comfyvn.core.errors import InvalidInput, NotFound


def test_defaults_without_a_file(runtime_root):
    manager = SettingsManager()
    assert manager.path == runtime_root.resolve() / "config" / "settings.json"
    assert manager.stored() == {}
    assert manager.all() == DEFAULTS
    assert manager.get("server.port") == 8001
    assert manager.get("modder.webhooks.max_attempts") == 4
    assert manager.get() == DEFAULTS
    assert not manager.path.exists()  # reading creates nothing


def test_effective_settings_are_a_copy(runtime_root):
    manager = SettingsManager()
    data = manager.all()
    data["server"]["port"] = 1
    data["modder"]["webhooks"]["allow"].append("http://x")
    assert DEFAULTS["server"]["port"] == 8001
    assert DEFAULTS["modder"]["webhooks"]["allow"] == []
    assert manager.get("server.port") == 8001


def test_missing_key_raises_not_found_or_returns_default():
    manager = SettingsManager()
    with pytest.raises(NotFound) as caught:
        manager.get("server.nope")
    assert caught.value.details == {"key": "server.nope"}
    assert caught.value.status == 404
    assert manager.get("server.nope", default=5) == 5
    assert manager.get("server.port", default=5) == 8001


def test_set_dotted_key_persists_only_that_key():
    manager = SettingsManager()
    effective = manager.set("server.port", 9100)
    assert effective["server"] == {**DEFAULTS["server"], "port": 9100}
    assert json.loads(manager.path.read_text()) == {"server": {"port": 9100}}
    assert SettingsManager().get("server.port") == 9100
    assert SettingsManager().get("server.host") == "127.0.0.1"  # default still applies


def test_set_replaces_an_object_where_save_merges_it():
    manager = SettingsManager()
    manager.save({"render": {"a": 1, "b": 2}, "server": {"port": 9001}})
    manager.set("render", {"a": 1})  # the key's value is replaced: "b" is gone
    assert manager.stored() == {"render": {"a": 1}, "server": {"port": 9001}}
    manager.set("ui.font.size", 13)  # missing parents are made
    assert manager.stored()["ui"] == {"font": {"size": 13}}


def test_save_deep_merges_and_keeps_other_sections():
    manager = SettingsManager()
    manager.save({"ui": {"theme": "dark", "font": {"size": 12}}, "server": {"port": 9001}})
    manager.save({"ui": {"font": {"family": "Inter"}}})
    manager.set("ui.font.size", 14)
    assert manager.stored() == {
        "ui": {"theme": "dark", "font": {"size": 14, "family": "Inter"}},
        "server": {"port": 9001},
    }


def test_a_value_can_replace_a_section_and_back():
    manager = SettingsManager()
    manager.set("feature.x", 1)
    manager.set("feature", "off")
    assert manager.get("feature") == "off"
    manager.set("feature.y", True)
    assert manager.get("feature") == {"y": True}


def test_stored_null_is_a_value_not_missing():
    manager = SettingsManager()
    manager.set("server.base_url", None)
    assert manager.get("server.base_url") is None


@pytest.mark.parametrize("key", ["", ".", "a..b", "a.", ".a"])
def test_set_rejects_bad_keys(key):
    manager = SettingsManager()
    with pytest.raises(InvalidInput) as caught:
        manager.set(key, 1)
    assert caught.value.details == {"key": key}
    assert not manager.path.exists()


@pytest.mark.parametrize("patch", [[1, 2], "text", 5, None])
def test_save_rejects_non_objects(patch):
    with pytest.raises(InvalidInput, match="JSON object"):
        SettingsManager().save(patch)


def test_on_change_gets_sorted_top_level_sections():
    seen: list[list[str]] = []
    manager = SettingsManager(on_change=seen.append)
    manager.save({"ui": {"a": 1}, "jobs": {"workers": 4}})
    manager.set("server.port", 9002)
    manager.save({})  # nothing changed: no notification
    assert seen == [["jobs", "ui"], ["server"]]


def test_on_change_runs_after_the_write():
    observed = []
    manager = SettingsManager(on_change=lambda sections: observed.append(SettingsManager().get("ui.theme")))
    manager.set("ui.theme", "dark")
    assert observed == ["dark"]


def test_explicit_path(tmp_path, runtime_root):
    path = tmp_path / "elsewhere" / "my-settings.json"
    manager = SettingsManager(path)
    manager.set("server.port", 1234)
    assert manager.path == path
    assert json.loads(path.read_text()) == {"server": {"port": 1234}}
    assert not (runtime_root / "config" / "settings.json").exists()


def test_reads_see_edits_from_other_writers():
    first, second = SettingsManager(), SettingsManager()
    assert first.get("jobs.workers") == 2
    second.set("jobs.workers", 8)
    assert first.get("jobs.workers") == 8
    first.path.write_text(json.dumps({"jobs": {"workers": 3}}))  # a hand edit
    assert second.get("jobs.workers") == 3


def test_settings_file_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_CONFIG_DIR", str(tmp_path / "cfg"))
    manager = SettingsManager()
    manager.set("a", 1)
    assert (tmp_path / "cfg" / settings_module.SETTINGS_FILE).exists()


def test_corrupt_settings_file_falls_back_to_defaults_and_is_kept():
    manager = SettingsManager()
    manager.path.parent.mkdir(parents=True)
    manager.path.write_text('{"server": {"port": 9')
    assert manager.get("server.port") == 8001
    kept = list(manager.path.parent.glob("settings.json.corrupt-*"))
    assert [p.read_text() for p in kept] == ['{"server": {"port": 9']
    manager.set("server.port", 9005)
    assert manager.stored() == {"server": {"port": 9005}}
