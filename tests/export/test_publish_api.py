"""POST /api/export/publish: flags, Steam and itch archives (deterministic), licence manifest and
provenance, placeholders, dry runs, path checks, events and the publish log."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from comfyvn.assets import previews
from comfyvn.assets import registry as assets
from comfyvn.config import feature_flags, runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import FeatureDisabled, InvalidInput
from comfyvn.export import packages, publish, renpy_tool
from comfyvn.projects import store
from tests.conftest import assert_envelope

SCENE = {
    "id": "pub", "title": "Publish me", "start": "a",
    "cast": [{"id": "mira", "name": "Mira"}],
    "nodes": [
        {"id": "a", "speaker": "mira", "text": "Hello.", "next": "b",
         "beats": [{"kind": "background", "image": "cafe night"},
                   {"kind": "show", "character": "mira", "expression": "sad", "position": "left"}]},
        {"id": "b", "type": "end", "text": "Bye."},
    ],
}


def png(seed: int, size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed * 40 % 256, 90, 120)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def project():
    """The default project: one scene, a licensed background with provenance, an unlicensed sprite."""
    assets.reset()
    store.require_project("default")
    store.collection("scene").create("default", SCENE)
    reg = assets.registry("default").open()
    bg, _ = reg.add_bytes(png(1), path="backgrounds/cafe_night.png", type="background", license="CC-BY-4.0",
                          origin="render.builtin", provenance={"tool": "test", "seed": 3})
    sprite, _ = reg.add_bytes(png(2), path="characters/mira/sad.png", type="character.sprite", origin="upload",
                              meta={"character": "mira", "expression": "sad"})
    yield {"bg": bg, "sprite": sprite}
    previews.wait_idle(timeout=120)
    assets.reset()


def enable(*names: str) -> None:
    for name in names:
        feature_flags.set_enabled(name, True)


ALL = (packages.PUBLISH_FLAG, *packages.TARGET_FLAGS.values())


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_flags_gate_the_route_and_each_target(client, tmp_path, project):
    error = assert_envelope(client.post("/api/export/publish", json={}), 403, "feature_disabled")
    assert error["details"]["flag"] == "enable_export_publish"
    enable(packages.PUBLISH_FLAG, packages.TARGET_FLAGS["itch"])
    body = {"targets": ["steam", "itch"], "out": str(tmp_path / "pub"), "lint": False}
    error = assert_envelope(client.post("/api/export/publish", json=body), 403, "feature_disabled")
    assert error["details"]["flag"] == "enable_export_publish_steam"
    assert not (tmp_path / "pub").exists()  # refused before anything was exported
    answer = client.post("/api/export/publish", json={"out": str(tmp_path / "pub"), "lint": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["targets"] == ["itch"]  # no targets given: the enabled ones


def test_targets_and_defaults_in_process(project):
    with pytest.raises(FeatureDisabled) as caught:
        publish.resolve_targets(None)
    assert caught.value.details["flags"] == list(packages.TARGET_FLAGS.values())
    enable(*ALL)
    assert publish.resolve_targets(None) == ["steam", "itch"]
    assert publish.resolve_targets(["itch", "steam", "itch"]) == ["steam", "itch"]
    with pytest.raises(InvalidInput, match="steam, itch") as caught:
        publish.resolve_targets(["steam", "gog"])
    assert caught.value.details["unknown"] == ["gog"]
    with pytest.raises(InvalidInput):
        publish.resolve_targets([])


def test_both_targets_make_deterministic_archives_with_licences_and_provenance(client, tmp_path, project):
    enable(*ALL)
    seen = []
    modder_hooks.subscribe("on_export_publish_complete", seen.append)
    body = {"out": str(tmp_path / "pub"), "name": "Cafe Story", "version": "1.2.0", "seed": 7, "lint": False}
    first = client.post("/api/export/publish", json=body)
    assert first.status_code == 200, first.text
    result = first.json()
    steam = tmp_path / "pub" / "cafe-story-1.2.0-steam.zip"
    itch = tmp_path / "pub" / "cafe-story-1.2.0-itch.zip"
    assert result["packages"]["steam"]["archive"] == str(steam) and itch.is_file()
    before = {p: p.read_bytes() for p in (steam, itch)}
    again = client.post("/api/export/publish", json=body).json()
    assert {p: p.read_bytes() for p in (steam, itch)} == before  # byte-identical
    assert again["packages"]["steam"]["sha256"] == result["packages"]["steam"]["sha256"]

    files = read_zip(steam)
    assert "game/script.rpy" in files and "steam/app_build.vdf" in files and ".itch.toml" not in files
    assert "REPLACE_WITH_APP_ID" in files["steam/app_build.vdf"].decode()
    assert '"DepotID"\t"REPLACE_WITH_DEPOT_ID"' in files["steam/depot_build.vdf"].decode()
    licences = json.loads(files["license_manifest.json"])
    by_uid = {a["uid"]: a for a in licences["assets"]}
    bg, sprite = by_uid[project["bg"]["uid"]], by_uid[project["sprite"]["uid"]]
    assert bg["license"] == "CC-BY-4.0" and bg["origin"] == "render.builtin" and bg["path"].startswith("images/bg/")
    assert [u["uid"] for u in licences["unlicensed"]] == [project["sprite"]["uid"]]
    provenance = json.loads(files[bg["provenance"]])
    assert bg["provenance"] == f"provenance/{bg['path']}.json"
    assert provenance["provenance"] == {"tool": "test", "seed": 3} and provenance["hash"] == project["bg"]["hash"]
    assert provenance["origin"] == "render.builtin" and provenance["sha256"] == bg["sha256"]
    assert f"provenance/{sprite['path']}.json" in files
    manifest = json.loads(files["publish_manifest.json"])
    assert manifest["target"] == "steam" and manifest["version"] == "1.2.0" and manifest["name"] == "Cafe Story"
    assert manifest["placeholders"] == ["EULA.txt", "LICENSE.txt", "icon.png"]
    assert manifest["flags"] == {name: True for name in ALL}
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == set(files) - {"publish_manifest.json"}
    assert files["EULA.txt"].startswith(b"PLACEHOLDER") and files["icon.png"].startswith(packages.PNG_MAGIC)

    itch_files = read_zip(itch)
    assert 'path = "cafe_story.exe"' in itch_files[".itch.toml"].decode() and "steam/app_build.vdf" not in itch_files
    assert itch_files["game/script.rpy"] == files["game/script.rpy"]
    assert seen and seen[-1]["payload"]["targets"] == ["steam", "itch"]
    assert {a["target"]: a["sha256"] for a in seen[-1]["payload"]["archives"]} == {
        t: p["sha256"] for t, p in result["packages"].items()}

    lines = (runtime_paths.log_dir() / "export" / "publish.log").read_text().splitlines()
    assert len(lines) == 2
    logged = json.loads(lines[-1])
    assert logged["result"] == "published" and logged["project"] == "default"
    assert logged["archives"]["itch"] == result["packages"]["itch"]["sha256"]


def test_given_files_replace_the_placeholders(client, tmp_path, project):
    enable(*ALL)
    (tmp_path / "EULA.txt").write_text("Our EULA.\n")
    (tmp_path / "LICENSE.txt").write_text("MIT\n")
    (tmp_path / "icon.ico").write_bytes(packages.ICO_MAGIC + b"\x01\x00" + bytes(16))
    body = {"targets": ["itch"], "out": str(tmp_path / "pub"), "lint": False, "eula": str(tmp_path / "EULA.txt"),
            "license_path": str(tmp_path / "LICENSE.txt"), "icon": str(tmp_path / "icon.ico")}
    result = client.post("/api/export/publish", json=body).json()
    assert result["placeholders"] == []
    files = read_zip(Path(result["packages"]["itch"]["archive"]))
    assert files["EULA.txt"] == b"Our EULA.\n" and files["LICENSE.txt"] == b"MIT\n"
    assert "icon.ico" in files and "icon.png" not in files
    assert json.loads(files["publish_manifest.json"])["placeholders"] == []


def test_bad_paths_name_their_field(client, tmp_path, project):
    enable(*ALL)
    (tmp_path / "icon.txt").write_text("not an image")
    base = {"out": str(tmp_path / "pub"), "lint": False}
    error = assert_envelope(client.post("/api/export/publish", json={**base, "icon": str(tmp_path / "none.png")}), 422)
    assert error["details"]["field"] == "icon" and "icon" in error["message"]
    error = assert_envelope(client.post("/api/export/publish", json={**base, "icon": str(tmp_path / "icon.txt")}), 422)
    assert error["details"]["field"] == "icon" and "PNG" in error["message"]
    error = assert_envelope(client.post("/api/export/publish", json={**base, "eula": str(tmp_path)}), 422)
    assert error["details"]["field"] == "eula"
    error = assert_envelope(client.post("/api/export/publish", json={**base, "targets": ["steam", "gog"]}), 422)
    assert "gog" in error["message"] and error["details"]["allowed"] == ["steam", "itch"]
    assert_envelope(client.post("/api/export/publish", json={**base, "version": "1 0"}), 422)
    assert_envelope(client.post("/api/export/publish", json={**base, "project": "nope"}), 404)
    assert_envelope(client.post("/api/export/publish", json={**base, "surprise": 1}), 422, "validation_error")
    assert not (tmp_path / "pub").exists()
    lines = (runtime_paths.log_dir() / "export" / "publish.log").read_text().splitlines()
    assert json.loads(lines[-1])["result"] == "failed: not_found"


def test_a_project_without_scenes_has_nothing_to_publish(client, tmp_path):
    enable(*ALL)
    store.create_project({"id": "empty"})
    error = assert_envelope(client.post("/api/export/publish", json={"project": "empty", "lint": False,
                                                                      "out": str(tmp_path / "pub")}), 422)
    assert error["code"] == "nothing_to_export"
    assert not list(tmp_path.glob("pub/*.zip"))


def test_dry_run_writes_nothing_and_reports_the_diff(client, tmp_path, project):
    enable(*ALL)
    seen = []
    modder_hooks.subscribe("on_export_publish_preview", seen.append)
    body = {"out": str(tmp_path / "pub"), "version": "2", "lint": False}
    preview = client.post("/api/export/publish", json={**body, "dry_run": True}).json()
    assert not (tmp_path / "pub").exists()
    steam = preview["packages"]["steam"]
    assert steam["changes"]["existing"] == "missing" and "game/script.rpy" in steam["changes"]["added"]
    assert preview["export"]["changes"]["added"] > 10 and preview["export"]["changes"]["unchanged"] == 0
    assert seen[-1]["payload"]["changes"]["steam"]["added"] == len(steam["changes"]["added"])

    written = client.post("/api/export/publish", json=body).json()
    assert written["packages"]["steam"]["sha256"] == steam["sha256"]  # the preview was of these exact bytes
    same = client.post("/api/export/publish", json={**body, "dry_run": True}).json()["packages"]["steam"]["changes"]
    assert same["added"] == same["changed"] == same["removed"] == [] and same["unchanged"] > 10

    archive = Path(written["packages"]["steam"]["archive"])
    stamp = archive.stat().st_mtime_ns
    reg = assets.registry("default").open()
    reg.update(project["sprite"]["uid"], license="CC0")
    store.collection("scene").create("default", {"id": "extra", "start": "x",
                                                 "nodes": [{"id": "x", "type": "end", "text": "More."}]})
    changed = client.post("/api/export/publish", json={**body, "dry_run": True}).json()["packages"]["steam"]["changes"]
    assert "license_manifest.json" in changed["changed"] and "game/scenes/extra.rpy" in changed["added"]
    assert archive.stat().st_mtime_ns == stamp
    log = (runtime_paths.log_dir() / "export" / "publish.log").read_text().splitlines()
    assert [json.loads(line)["result"] for line in log] == ["preview", "published", "preview", "preview"]


def test_archive_diff_by_entry(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(publish.archive_bytes([("a", b"1"), ("b", b"2"), ("c", b"3")]))
    diff = publish.archive_diff({"a": b"1", "b": b"changed", "d": b"4"}, archive)
    assert diff == {"existing": "present", "added": ["d"], "changed": ["b"], "removed": ["c"], "unchanged": 1}
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert publish.archive_diff({"a": b"1"}, tmp_path / "bad.zip")["existing"] == "unreadable"


def test_placeholder_icon_is_a_stable_png():
    first = packages.placeholder_icon()
    assert first == packages.placeholder_icon() and first.startswith(packages.PNG_MAGIC)
    assert Image.open(io.BytesIO(first)).size == (256, 256)


def test_a_failed_write_leaves_no_half_written_archive(client, tmp_path, project, monkeypatch):
    import os

    enable(*ALL)
    body = {"targets": ["itch"], "out": str(tmp_path / "pub"), "lint": False}
    first = client.post("/api/export/publish", json=body).json()
    archive = Path(first["packages"]["itch"]["archive"])
    before = archive.read_bytes()
    real = os.replace

    def crash_on_zip(src, dst, *args, **kwargs):  # the new zip is fully written, then the rename fails
        if str(dst).endswith(".zip"):
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash_on_zip)
    store.collection("scene").create("default", {"id": "extra", "start": "x",
                                                 "nodes": [{"id": "x", "type": "end", "text": "More."}]})
    with pytest.raises(OSError):
        publish.publish_project("default", targets=["itch"], out=tmp_path / "pub", lint=False)
    assert archive.read_bytes() == before and sorted(p.name for p in archive.parent.iterdir()) == [
        "build", archive.name]
    last = (runtime_paths.log_dir() / "export" / "publish.log").read_text().splitlines()[-1]
    assert json.loads(last)["result"] == "failed: OSError"


def test_lint_errors_stop_the_publish(client, tmp_path, project, monkeypatch):
    from comfyvn.export import service

    enable(*ALL)
    real = service.export_renpy

    def with_lint_errors(*args, **kwargs):  # as if Ren'Py's lint had reported an error
        result = real(*args, **{**kwargs, "lint": False})
        return {**result, "lint": {"ok": False, "errors": ["game/script.rpy:3 bad"], "seconds": 0.1}}

    monkeypatch.setattr(service, "export_renpy", with_lint_errors)
    error = assert_envelope(client.post("/api/export/publish", json={"out": str(tmp_path / "pub")}), 422, "lint_failed")
    assert error["details"]["errors"] == ["game/script.rpy:3 bad"]
    assert not list((tmp_path / "pub").glob("*.zip"))


@pytest.mark.slow
@pytest.mark.skipif(renpy_tool.find_renpy() is None, reason="Ren'Py is not installed (apt-get install renpy; "
                    "scripts/run_tests.sh installs it as root)")
def test_published_game_passes_renpys_lint(client, tmp_path, project):
    enable(*ALL)
    answer = client.post("/api/export/publish", json={"targets": ["itch"], "out": str(tmp_path / "pub"),
                                                      "lint": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["export"]["lint"]["ok"]
    assert "game/script.rpy" in read_zip(Path(answer.json()["packages"]["itch"]["archive"]))
