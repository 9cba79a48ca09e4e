"""Runtime paths: environment overrides, platformdirs defaults, nothing created at import time,
ensure_dirs and the legacy links for old guides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from comfyvn.config import runtime_paths

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"logs": "COMFYVN_LOG_DIR", "config": "COMFYVN_CONFIG_DIR", "data": "COMFYVN_DATA_DIR",
         "cache": "COMFYVN_CACHE_DIR"}


def test_runtime_root_holds_every_kind(runtime_root):
    paths = runtime_paths.all_paths()
    assert paths == {
        "logs": (runtime_root / "logs").resolve(),
        "config": (runtime_root / "config").resolve(),
        "data": (runtime_root / "data").resolve(),
        "cache": (runtime_root / "cache").resolve(),
        "workspaces": (runtime_root / "data" / "workspaces").resolve(),
    }
    assert runtime_paths.config_file("x.json") == (runtime_root / "config" / "x.json").resolve()
    assert runtime_paths.workspaces_dir() == runtime_paths.data_dir() / "workspaces"


def test_paths_are_read_from_the_environment_on_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_RUNTIME_ROOT", str(tmp_path / "one"))
    first = runtime_paths.log_dir()
    monkeypatch.setenv("COMFYVN_RUNTIME_ROOT", str(tmp_path / "two"))
    assert first == (tmp_path / "one" / "logs").resolve()
    assert runtime_paths.log_dir() == (tmp_path / "two" / "logs").resolve()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_single_override_wins_over_root_and_leaves_others_alone(kind, tmp_path, monkeypatch, runtime_root):
    explicit = tmp_path / f"explicit-{kind}"
    monkeypatch.setenv(KINDS[kind], str(explicit))
    paths = runtime_paths.all_paths()
    assert paths[kind] == explicit.resolve()
    for other in KINDS:
        if other != kind:
            assert paths[other] == (runtime_root / other).resolve()
    if kind == "data":
        assert paths["workspaces"] == explicit.resolve() / "workspaces"


def test_override_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COMFYVN_CACHE_DIR", "~/comfy-cache")
    assert runtime_paths.cache_dir() == (tmp_path / "home" / "comfy-cache").resolve()


def test_empty_override_is_ignored(monkeypatch, runtime_root):
    monkeypatch.setenv("COMFYVN_LOG_DIR", "")
    assert runtime_paths.log_dir() == (runtime_root / "logs").resolve()


def test_platformdirs_defaults_without_any_override(monkeypatch):
    monkeypatch.delenv("COMFYVN_RUNTIME_ROOT")
    assert runtime_paths.log_dir() == Path(platformdirs.user_log_dir("ComfyVN", appauthor=False)).resolve()
    assert runtime_paths.config_dir() == Path(platformdirs.user_config_dir("ComfyVN", appauthor=False)).resolve()
    assert runtime_paths.data_dir() == Path(platformdirs.user_data_dir("ComfyVN", appauthor=False)).resolve()
    assert runtime_paths.cache_dir() == Path(platformdirs.user_cache_dir("ComfyVN", appauthor=False)).resolve()


def test_resolving_paths_creates_nothing(runtime_root):
    runtime_paths.all_paths()
    runtime_paths.config_file("settings.json")
    assert not runtime_root.exists()


def test_ensure_dirs_creates_everything_and_is_idempotent(runtime_root):
    created = runtime_paths.ensure_dirs()
    assert set(created) == {"logs", "config", "data", "cache", "workspaces"}
    assert all(path.is_dir() for path in created.values())
    (created["config"] / "keep.txt").write_text("kept")
    assert runtime_paths.ensure_dirs() == created
    assert (created["config"] / "keep.txt").read_text() == "kept"


def test_nothing_is_created_at_import_time(tmp_path):
    """Importing the server, CLI, flags and hook bus must not touch the disk."""
    root = tmp_path / "does-not-exist"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFYVN_", "XDG_"))}
    env.update({
        "COMFYVN_RUNTIME_ROOT": str(root),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "XDG_STATE_HOME": str(home / "xdg-state"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),
    })
    code = (
        "import comfyvn.server.app, comfyvn.cli, comfyvn.config.feature_flags, comfyvn.core.modder_hooks\n"
        "import comfyvn.config.settings, comfyvn.config.baseurl_authority, comfyvn.core.logs\n"
        "print('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout
    assert not root.exists(), sorted(str(p) for p in root.rglob("*"))
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


# -- legacy links ----------------------------------------------------------------------------------
def _by_link(results, base: Path) -> dict[str, runtime_paths.LinkResult]:
    return {str(r.link.relative_to(base)): r for r in results}


def test_legacy_links_are_created(tmp_path, runtime_root):
    base = tmp_path / "checkout"
    base.mkdir()
    results = _by_link(runtime_paths.legacy_links(base), base)
    assert set(results) == {"logs", "cache", os.path.join("data", "workspaces"), os.path.join("data", "settings")}
    assert {r.status for r in results.values()} == {"created"}
    assert (base / "logs").is_symlink()
    assert (base / "logs").resolve() == runtime_paths.log_dir()
    assert (base / "cache").resolve() == runtime_paths.cache_dir()
    assert (base / "data" / "workspaces").resolve() == runtime_paths.workspaces_dir()
    assert (base / "data" / "settings").resolve() == runtime_paths.config_dir()
    # the links work both ways: what is written through them lands in the runtime folders
    (base / "data" / "settings" / "through-link.txt").write_text("hi")
    assert (runtime_paths.config_dir() / "through-link.txt").read_text() == "hi"


def test_legacy_links_second_run_reports_exists(tmp_path):
    base = tmp_path / "checkout"
    runtime_paths.legacy_links(base)
    again = runtime_paths.legacy_links(base)
    assert {r.status for r in again} == {"exists"}


def test_legacy_links_conflicts_are_reported_and_left_alone(tmp_path):
    base = tmp_path / "checkout"
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "old.log").write_text("old")
    (base / "cache").write_text("a plain file")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (base / "data").mkdir()
    (base / "data" / "settings").symlink_to(elsewhere, target_is_directory=True)
    results = _by_link(runtime_paths.legacy_links(base), base)
    assert results["logs"].status == "conflict"
    assert "not a link" in results["logs"].message
    assert results["cache"].status == "conflict"
    assert results[os.path.join("data", "settings")].status == "conflict"
    assert str(elsewhere) in results[os.path.join("data", "settings")].message
    assert results[os.path.join("data", "workspaces")].status == "created"
    # nothing in the way was touched
    assert (base / "logs" / "old.log").read_text() == "old"
    assert (base / "cache").read_text() == "a plain file"
    assert os.readlink(base / "data" / "settings") == str(elsewhere)


def test_legacy_links_inside_the_runtime_root_are_same_place(runtime_root):
    runtime_paths.ensure_dirs()
    results = _by_link(runtime_paths.legacy_links(runtime_root), runtime_root)
    assert results["logs"].status == "same-place"
    assert results["cache"].status == "same-place"
    assert results[os.path.join("data", "workspaces")].status == "same-place"
    assert results[os.path.join("data", "settings")].status == "created"


def test_legacy_link_unsupported_when_symlinks_fail(tmp_path, monkeypatch):
    def refuse(self, target, target_is_directory=False):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    results = runtime_paths.legacy_links(tmp_path / "checkout")
    assert {r.status for r in results} == {"unsupported"}
    assert all("Operation not permitted" in r.message for r in results)
