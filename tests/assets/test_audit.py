"""tools/assets_enforcer.py and comfyvn.assets.audit: findings, exit codes, --fix, --fill-metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyvn.assets import audit, paths, previews
from comfyvn.assets.registry import check_tags, registry
from tests.assets.conftest import png, wav

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "assets_enforcer.py"


def enforce(env: dict[str, str], *args: str) -> tuple[int, dict | str]:
    """Run the tool; the parsed JSON report when --json was given, else its output."""
    done = subprocess.run([sys.executable, str(TOOL), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    if "--json" in args and done.returncode in (0, 1):
        return done.returncode, json.loads(done.stdout)
    return done.returncode, done.stdout + done.stderr


def kinds(report: dict) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["path"]) for f in report["findings"])


@pytest.fixture
def project(reg):
    """A clean project: two characters with tags and licence, one background without either."""
    reg.add_bytes(png(1), path="characters/sera/happy.png", tags=["sera"], license="CC0")
    reg.add_bytes(png(2), path="characters/sera/sad.png", tags=["sera"], license="CC0")
    reg.add_bytes(wav(3), path="music/theme.wav", tags=["theme"], license="CC0")
    previews.wait_idle()
    return reg


def damage(root: Path) -> None:
    (root / "music" / "theme.wav").unlink()  # orphan sidecar
    (root / "characters" / "sera" / "sad.png").write_bytes(png(99))  # stale hash
    (root / "backgrounds").mkdir()
    (root / "backgrounds" / "beach.png").write_bytes(png(4))  # missing sidecar
    (root / "broken.png.asset.json").write_text("{not json")  # unreadable sidecar


def test_clean_project_exits_zero(project, server_env):
    code, report = enforce(server_env, "--dry-run", "--json")
    assert code == 0, report
    assert report["findings"] == [] and report["project"] == "default" and report["mode"] == "dry-run"
    assert report["counts"]["media_files"] == 3 and report["counts"]["sidecars"] == 3
    assert report["root"] == str(project.root)


def test_damage_is_reported_with_exit_one(project, server_env):
    damage(project.root)
    code, report = enforce(server_env, "--dry-run", "--json")
    assert code == 1
    assert kinds(report) == [("missing_sidecar", "backgrounds/beach.png"),
                             ("orphan_sidecar", "music/theme.wav.asset.json"),
                             ("stale_hash", "characters/sera/sad.png"),
                             ("unreadable_sidecar", "broken.png.asset.json")]
    assert {f["severity"] for f in report["findings"]} == {"error"}
    counts = report["counts"]
    assert counts["errors"] == 4 and counts["warnings"] == 0 and counts["orphan_sidecar"] == 1
    assert set(report["findings"][0]) == {"kind", "path", "detail", "severity", "uid"}
    # nothing was written by the dry run
    assert not (project.root / "backgrounds" / "beach.png.asset.json").exists()
    assert (project.root / "music" / "theme.wav.asset.json").exists()


def test_table_output_names_the_problems(project, server_env):
    damage(project.root)
    code, out = enforce({**server_env, "COLUMNS": "200"}, "--project", "default")
    assert code == 1
    assert "orphan_sidecar" in out and "backgrounds/beach.png" in out and "4 errors" in out


def test_usage_errors_exit_two(server_env, tmp_path):
    assert enforce(server_env, "--project", "nope")[0] == 2
    assert enforce(server_env, "--assets", str(tmp_path / "missing"))[0] == 2
    assert enforce(server_env, "--project", "default", "--assets", str(tmp_path))[0] == 2
    code, out = enforce(server_env, "--fix", "--assets", str(tmp_path))
    assert code == 2 and "--fix needs a project" in out
    code, out = enforce(server_env, "--help")
    assert code == 0 and "missing_sidecar" in out and "Exit codes" in out


def test_warnings_pass_unless_strict(reg, server_env):
    reg.add_bytes(png(5), path="backgrounds/beach.png")
    previews.wait_idle()
    code, report = enforce(server_env, "--json")
    assert code == 0 and kinds(report) == [("missing_metadata", "backgrounds/beach.png")]
    assert report["findings"][0]["severity"] == "warning"
    assert enforce(server_env, "--json", "--strict")[0] == 1


def test_path_mismatch_and_duplicate_uid(project, server_env):
    root = project.root
    (root / "copy").mkdir()
    for name in ("happy.png", "happy.png.asset.json"):
        (root / "copy" / name).write_bytes((root / "characters" / "sera" / name).read_bytes())
    code, report = enforce(server_env, "--json")
    assert code == 1
    assert kinds(report) == [("duplicate_uid", "copy/happy.png"), ("path_mismatch", "copy/happy.png")]


def test_fix_registers_removes_and_moves(project, server_env):
    root = project.root
    moved_uid = json.loads((root / "characters" / "sera" / "happy.png.asset.json").read_text())["uid"]
    os.replace(root / "characters" / "sera" / "happy.png", root / "characters" / "glad.png")  # moved without sidecar
    damage(root)
    code, report = enforce(server_env, "--fix", "--json")
    assert code == 1  # the stale hash and the broken sidecar are left for a person
    assert kinds(report) == [("missing_metadata", "backgrounds/beach.png"),  # registered now, without tags
                             ("stale_hash", "characters/sera/sad.png"), ("unreadable_sidecar", "broken.png.asset.json")]
    done = {(a["action"], a["path"]) for a in report["actions"]}
    assert {("move_sidecar", "characters/glad.png"), ("remove_asset", "music/theme.wav.asset.json"),
            ("register", "backgrounds/beach.png")} <= done
    moved = json.loads((root / "characters" / "glad.png.asset.json").read_text())
    assert moved["uid"] == moved_uid and moved["path"] == "characters/glad.png" and moved["license"] == "CC0"
    assert not (root / "characters" / "sera" / "happy.png.asset.json").exists()
    assert not (root / "music" / "theme.wav.asset.json").exists()
    fresh = registry("default")
    assert fresh.get(moved_uid)["path"] == "characters/glad.png"
    assert fresh.query(q="beach")["total"] == 1
    assert fresh.query(q="theme")["total"] == 0


def test_fill_metadata_from_folders_and_license(reg, server_env):
    reg.add_bytes(png(6), path="characters/Sera/happy.png")
    reg.add_bytes(png(7), path="misc/thing.png", tags=["kept"])
    reg.add_bytes(png(8), path="backgrounds/beach.png", license="Mine")
    previews.wait_idle()
    (reg.root / "characters" / "LICENSE.txt").write_text("\nCC-BY-4.0\nAttribution: someone\n")
    (reg.root / "misc" / "license").write_text("CC0-1.0\n")
    code, report = enforce(server_env, "--fill-metadata", "--dry-run", "--json")
    assert code == 0 and report["actions"] == []
    plan = {m["path"]: {k: m.get(k) for k in ("tags", "license")} for m in report["metadata"]}
    assert plan == {"characters/Sera/happy.png": {"tags": ["characters", "sera"], "license": "CC-BY-4.0"},
                    "misc/thing.png": {"tags": None, "license": "CC0-1.0"},
                    "backgrounds/beach.png": {"tags": ["backgrounds"], "license": None}}
    assert registry("default").query(tags=["sera"])["total"] == 0  # dry run wrote nothing

    code, report = enforce(server_env, "--fill-metadata", "--json")
    assert code == 0 and report["counts"]["missing_metadata"] == 0
    assert len([a for a in report["actions"] if a["action"] == "fill_metadata" and "error" not in a]) == 3
    found = {s["path"]: s for s in registry("default").query()["items"]}
    assert found["characters/Sera/happy.png"]["tags"] == ["characters", "sera"]
    assert found["characters/Sera/happy.png"]["license"] == "CC-BY-4.0"
    assert found["misc/thing.png"]["tags"] == ["kept"] and found["misc/thing.png"]["license"] == "CC0-1.0"
    assert found["backgrounds/beach.png"]["license"] == "Mine"
    assert found["characters/Sera/happy.png"]["version"] >= 2
    on_disk = json.loads(paths.sidecar_of(reg.root / "characters/Sera/happy.png").read_text())
    assert on_disk["tags"] == ["characters", "sera"]


def test_fill_metadata_goes_through_the_registry_hooks(reg):
    reg.add_bytes(png(10), path="ui/menu/button.png")
    previews.wait_idle()
    seen = []
    reg.add_hook("asset_meta_updated", lambda payload: seen.append(payload["sidecar"]["tags"]))
    report = audit.run(reg.root, "default", fill=True)
    assert seen == [["menu", "ui"]] and report["mode"] == "apply"
    assert audit.exit_code(report) == 0 and audit.exit_code(report, strict=True) == 1  # no licence yet


def test_fill_metadata_in_a_plain_folder(reg, tmp_path, server_env):
    sidecar, _ = reg.add_bytes(png(9), path="sfx/door/open.png")
    previews.wait_idle()
    folder = tmp_path / "exported"
    (folder / "sfx" / "door").mkdir(parents=True)
    for name in ("open.png", "open.png.asset.json"):
        (folder / "sfx" / "door" / name).write_bytes((reg.root / "sfx" / "door" / name).read_bytes())
    (folder / "LICENSE").write_text("MIT\n")
    before = json.loads((folder / "sfx" / "door" / "open.png.asset.json").read_text())
    code, report = enforce(server_env, "--assets", str(folder), "--fill-metadata", "--json")
    assert code == 0 and report["project"] is None
    written = json.loads((folder / "sfx" / "door" / "open.png.asset.json").read_text())
    assert written["tags"] == ["door", "sfx"] and written["license"] == "MIT"
    assert written["version"] == before["version"] + 1 and written["hash"] == before["hash"]
    assert registry("default").get(sidecar["uid"])["tags"] == []  # the project's copy is untouched


def test_assets_folder_of_a_project_counts_as_the_project(project, server_env):
    code, report = enforce(server_env, "--assets", str(project.root), "--json")
    assert code == 0 and report["project"] == "default"


# -- units ------------------------------------------------------------------------------------

def test_scan_skips_hidden_folders_and_non_media(tmp_path):
    (tmp_path / ".previews").mkdir()
    (tmp_path / ".previews" / "x.256.png").write_bytes(png(1))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "LICENSE").write_text("CC0")
    (tmp_path / "a.png").write_bytes(png(2))
    found = audit.scan(tmp_path)
    assert [(f.kind, f.path) for f in found.findings] == [("missing_sidecar", "a.png")]
    assert found.media_files == 1
    assert audit.scan(tmp_path / "absent").findings == []


def test_scan_reports_sidecar_missing_fields_and_links(tmp_path):
    (tmp_path / "a.png").write_bytes(png(1))
    (tmp_path / "a.png.asset.json").write_text(json.dumps({"uid": "x", "path": "a.png"}))
    (tmp_path / "link.png").symlink_to(tmp_path / "a.png")
    found = {(f.kind, f.path): f for f in audit.scan(tmp_path).findings}
    assert set(found) == {("unreadable_sidecar", "a.png.asset.json"), ("symlink", "link.png")}
    assert "hash" in found[("unreadable_sidecar", "a.png.asset.json")].detail
    assert found[("symlink", "link.png")].severity == "warning"


def test_same_size_edit_is_stale(tmp_path, reg):
    sidecar, _ = reg.add_bytes(png(1), path="a.png")
    previews.wait_idle()
    data = bytearray((reg.root / "a.png").read_bytes())
    data[-20] ^= 1
    (reg.root / "a.png").write_bytes(bytes(data))
    assert [f.kind for f in audit.scan(reg.root).findings] == ["missing_metadata", "stale_hash"]


def test_license_nearest_parent_inside_root(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "LICENSE").write_text("Root-License")
    assert audit.license_for(tmp_path, "a/b/x.png") == "Root-License"
    (tmp_path / "a" / "licence.md").write_text("  \nCC-BY-SA-4.0  \n")
    assert audit.license_for(tmp_path, "a/b/x.png") == "CC-BY-SA-4.0"
    (tmp_path / "a" / "b" / "LICENSE").write_bytes(b"\xff\xfe\x00binary")
    assert audit.license_for(tmp_path, "a/b/x.png") == "CC-BY-SA-4.0"  # unreadable ones are passed over
    assert audit.license_for(tmp_path / "a", "x.png") == "CC-BY-SA-4.0"
    assert audit.license_for(tmp_path / "a" / "b", "x.png") is None  # never above the root


def test_derived_tags_examples():
    assert audit.derived_tags("characters/Sera/happy.png") == ["characters", "sera"]
    assert audit.derived_tags("misc/images/x.png") == []
    assert audit.derived_tags("x.png") == []
    assert audit.derived_tags("Big  Forest/x.png") == ["big forest"]


@given(st.lists(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s), min_size=1, max_size=6))
def test_derived_tags_are_always_valid_tags(parts):
    tags = audit.derived_tags("/".join([*parts, "file.png"]))
    assert check_tags(tags) == tags
