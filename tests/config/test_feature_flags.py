"""Feature flags: declared through plugins, persisted under ``features`` in comfyvn.json, cached
with invalidation by file signature and plugin generation, ``flags.changed`` on the hook bus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfyvn.config import feature_flags
from comfyvn.config.feature_flags import Flag, UnknownFlag
from comfyvn.core import modder_hooks, plugins
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.plugins import hookimpl
from comfyvn.core.store import JsonDocument, atomic_write_json

ROOT = Path(__file__).resolve().parents[2]
CORE_FLAG = "enable_modder_webhooks"


class FlagPlugin:
    def __init__(self, *flags: Flag) -> None:
        self._flags = flags

    @hookimpl
    def comfyvn_flags(self):
        return list(self._flags)


def _stored_file(runtime_root: Path) -> dict:
    return json.loads((runtime_root / "config" / "comfyvn.json").read_text())


def _run_cli(runtime_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root), "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    return subprocess.run([sys.executable, "-m", "comfyvn", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_core_flag_is_declared_with_owner_and_default():
    flags = feature_flags.declared()
    assert flags[CORE_FLAG].owner == "core"
    assert flags[CORE_FLAG].default is False
    snapshot = {f["name"]: f for f in feature_flags.snapshot()}
    assert snapshot[CORE_FLAG] == {"name": CORE_FLAG, "default": False, "owner": "core", "enabled": False,
                                   "description": flags[CORE_FLAG].description}
    assert feature_flags.is_enabled(CORE_FLAG) is False
    assert CORE_FLAG not in feature_flags.enabled()


def test_reading_flags_creates_no_file(runtime_root):
    feature_flags.values()
    feature_flags.snapshot()
    assert not (runtime_root / "config" / "comfyvn.json").exists()


def test_set_enabled_persists_under_features_and_keeps_other_sections(runtime_root):
    JsonDocument(feature_flags.config_path()).update({"server": {"port": 9000}, "features": {"other": True}})
    result = feature_flags.set_enabled(CORE_FLAG, True)
    assert result["enabled"] is True and result["name"] == CORE_FLAG and result["owner"] == "core"
    assert _stored_file(runtime_root) == {"server": {"port": 9000}, "features": {"other": True, CORE_FLAG: True}}
    assert feature_flags.is_enabled(CORE_FLAG) is True
    assert feature_flags.enabled() == [CORE_FLAG]


def test_flag_survives_cache_drop_and_plugin_reset():
    feature_flags.set_enabled(CORE_FLAG, True)
    feature_flags._cache = None
    plugins.reset()
    assert feature_flags.is_enabled(CORE_FLAG) is True
    feature_flags.set_enabled(CORE_FLAG, False)
    feature_flags._cache = None
    plugins.reset()
    assert feature_flags.is_enabled(CORE_FLAG) is False


def test_flag_set_in_a_fresh_interpreter_is_read_back(runtime_root):
    feature_flags.set_enabled(CORE_FLAG, True)
    code = ("from comfyvn.config import feature_flags\n"
            f"print('VALUE', feature_flags.is_enabled({CORE_FLAG!r}))\n")
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "VALUE True" in done.stdout


def test_cli_subprocess_toggles_are_seen_without_refresh(runtime_root):
    assert feature_flags.is_enabled(CORE_FLAG) is False  # cached now
    done = _run_cli(runtime_root, "flags", "enable", CORE_FLAG)
    assert done.returncode == 0, done.stderr
    assert f"{CORE_FLAG}: on" in done.stdout
    assert _stored_file(runtime_root)["features"][CORE_FLAG] is True
    assert feature_flags.is_enabled(CORE_FLAG) is True  # picked up through the file signature
    done = _run_cli(runtime_root, "flags", "disable", CORE_FLAG)
    assert done.returncode == 0, done.stderr
    assert feature_flags.is_enabled(CORE_FLAG) is False


def test_edit_by_another_process_is_picked_up_without_refresh(runtime_root):
    assert feature_flags.values()[CORE_FLAG] is False
    code = ("import sys\nfrom comfyvn.core.store import JsonDocument\n"
            f"JsonDocument(sys.argv[1]).update({{'features': {{{CORE_FLAG!r}: True}}}})\n")
    done = subprocess.run([sys.executable, "-c", code, str(feature_flags.config_path())],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert feature_flags.values()[CORE_FLAG] is True


def test_same_size_rewrite_with_unchanged_mtime_is_picked_up(runtime_root):
    """Filesystems with coarse timestamps (HFS+, FAT, older kernels) can give two quick writes the
    same mtime; an atomic replace still makes a new file, which the cache must notice."""
    path = feature_flags.config_path()
    atomic_write_json(path, {"features": {CORE_FLAG: True, "zz": False}})
    before = path.stat()
    assert feature_flags.is_enabled(CORE_FLAG) is True
    atomic_write_json(path, {"features": {CORE_FLAG: False, "zz": True}})
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert feature_flags.is_enabled(CORE_FLAG) is False


def test_file_deleted_falls_back_to_defaults():
    feature_flags.set_enabled(CORE_FLAG, True)
    feature_flags.config_path().unlink()
    assert feature_flags.is_enabled(CORE_FLAG) is False


def test_refresh_cache_returns_the_effective_values(runtime_root):
    atomic_write_json(feature_flags.config_path(), {"features": {CORE_FLAG: True, "undeclared": True}})
    refreshed = feature_flags.refresh_cache()
    assert refreshed[CORE_FLAG] is True and "undeclared" not in refreshed
    assert feature_flags.values() == refreshed
    assert set(refreshed) == set(feature_flags.declared())


def test_malformed_features_section_is_ignored():
    atomic_write_json(feature_flags.config_path(), {"features": ["not", "an", "object"]})
    assert feature_flags.values() == {name: flag.default for name, flag in feature_flags.declared().items()}


def test_flags_changed_reaches_bus_subscribers():
    seen = []
    unsubscribe = modder_hooks.subscribe("flags.changed", seen.append)
    feature_flags.set_enabled(CORE_FLAG, True)
    feature_flags.set_enabled(CORE_FLAG, True)
    feature_flags.set_enabled(CORE_FLAG, False)
    unsubscribe()
    assert [e["event"] for e in seen] == ["flags.changed"] * 3
    assert [e["payload"] for e in seen] == [
        {"name": CORE_FLAG, "enabled": True, "previous": False},
        {"name": CORE_FLAG, "enabled": True, "previous": True},
        {"name": CORE_FLAG, "enabled": False, "previous": True},
    ]
    assert modder_hooks.history(event="flags.changed")[-1]["payload"]["enabled"] is False


def test_subscriber_sees_the_new_value_already_stored():
    observed = []
    modder_hooks.subscribe("flags.changed", lambda env: observed.append(feature_flags.is_enabled(CORE_FLAG)))
    feature_flags.set_enabled(CORE_FLAG, True)
    assert observed == [True]


def test_unknown_flag(runtime_root):
    with pytest.raises(UnknownFlag) as caught:
        feature_flags.is_enabled("no_such_flag")
    assert isinstance(caught.value, NotFound)
    assert caught.value.code == "unknown_flag"
    assert caught.value.details == {"flag": "no_such_flag"}
    assert "no_such_flag" in caught.value.message
    seen = []
    modder_hooks.subscribe("flags.changed", seen.append)
    with pytest.raises(UnknownFlag):
        feature_flags.set_enabled("no_such_flag", True)
    assert seen == []
    assert not (runtime_root / "config" / "comfyvn.json").exists()


@pytest.mark.parametrize("value", ["true", 1, None])
def test_set_enabled_requires_a_bool(value, runtime_root):
    with pytest.raises(InvalidInput):
        feature_flags.set_enabled(CORE_FLAG, value)
    assert not (runtime_root / "config" / "comfyvn.json").exists()


def test_plugin_declared_flag_uses_its_default_and_owner():
    plugins.register(FlagPlugin(Flag("beta_ui", True, "New UI."), Flag("gamma", False, "G.", owner="team-g")),
                     name="extras")
    snapshot = {f["name"]: f for f in feature_flags.snapshot()}
    assert snapshot["beta_ui"]["enabled"] is True and snapshot["beta_ui"]["owner"] == "extras"
    assert snapshot["gamma"]["owner"] == "team-g"  # an explicit owner is kept
    assert [f["name"] for f in feature_flags.snapshot()] == sorted(snapshot)
    feature_flags.set_enabled("beta_ui", False)
    assert feature_flags.is_enabled("beta_ui") is False


def test_cache_follows_plugin_changes_without_refresh():
    assert "late_flag" not in feature_flags.values()
    plugins.register(FlagPlugin(Flag("late_flag", True, "Registered later.")), name="late")
    assert feature_flags.values()["late_flag"] is True
    plugins.unregister("late")
    assert "late_flag" not in feature_flags.values()
    with pytest.raises(UnknownFlag):
        feature_flags.is_enabled("late_flag")


def test_stored_value_of_a_flag_declared_later_applies():
    atomic_write_json(feature_flags.config_path(), {"features": {"late_flag": False}})
    feature_flags.values()
    plugins.register(FlagPlugin(Flag("late_flag", True, "Registered later.")), name="late")
    assert feature_flags.is_enabled("late_flag") is False


def test_flag_file_location_follows_the_config_dir(tmp_path, monkeypatch):
    feature_flags.set_enabled(CORE_FLAG, True)
    monkeypatch.setenv("COMFYVN_CONFIG_DIR", str(tmp_path / "other-config"))
    assert feature_flags.is_enabled(CORE_FLAG) is False  # a different file, not the cached one
    feature_flags.set_enabled(CORE_FLAG, True)
    assert json.loads((tmp_path / "other-config" / "comfyvn.json").read_text()) == {"features": {CORE_FLAG: True}}
