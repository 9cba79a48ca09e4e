"""Project bundles: portable names, deterministic zips, build.log, and restores that refuse
unsafe or damaged bundles without writing anything."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import unicodedata
import wave
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from comfyvn.assets import previews
from comfyvn.assets.registry import registry
from comfyvn.cli import app
from comfyvn.config import runtime_paths
from comfyvn.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from comfyvn.export import bundle, bundle_restore
from comfyvn.export.bundle_names import MAX_SEGMENT_BYTES, fold, plan_paths, problems, safe_segment
from comfyvn.projects import store
from comfyvn.projects.paths import project_dir
from tests.projects.samples import KINDS

ROOT = Path(__file__).resolve().parents[2]
cli = CliRunner()
any_text = st.text(st.characters(exclude_categories=()), max_size=300)


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 40 % 256, 10, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", (i * 7) % 2000 - 1000) for i in range(400)))
    return buffer.getvalue()


@pytest.fixture
def project() -> Path:
    """Project 'story': one record of each kind, assets whose names clash when case is ignored or
    are not NFC, a chat file with characters Windows refuses, a link, a corrupt copy, derived data."""
    store.create_project({"id": "story", "name": "Story"})
    for kind_name, (_, record, _, _) in KINDS.items():
        store.collection(kind_name).create("story", record)
    assets = registry("story")
    assets.add_many([
        {"data": png(1), "path": "backgrounds/Beach.png", "type": "background"},
        {"data": png(2), "path": "backgrounds/beach.png", "type": "background"},
        {"data": png(3), "path": unicodedata.normalize("NFD", "backgrounds/Café.png"), "type": "background"},
        {"data": wav(), "path": "music/theme.wav", "type": "music"},
    ])
    assert previews.wait_idle(timeout=120)  # the sidecars change when their previews are made
    store.collection("character").patch("story", "alice", {"metadata": {"portrait": "assets/backgrounds/Beach.png"}})
    root = project_dir("story")
    (root / "roleplay" / "raw").mkdir(parents=True)
    (root / "roleplay" / "raw" / 'chat: "one"?.txt').write_text("hello", encoding="utf-8")
    (root / "roleplay" / "raw" / "CON.txt").write_text("device name", encoding="utf-8")
    (root / "scenes" / "old.json.corrupt-17").write_text("{", encoding="utf-8")
    outside = root.parent / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    (root / "link.txt").symlink_to(outside)
    return root


def project_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and not bundle.excluded(p.relative_to(root).as_posix())
            and ".corrupt-" not in p.name}


# -- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "safe"), [
    ("beach.png", "beach.png"), ("a:b?.png", "a_b_.png"), ('<>"|*\\x', "______x"), ("tab\there", "tab_here"),
    ("end. ", "end"), ("..", "_"), ("", "_"), ("CON", "CON_"), ("nul.tar.gz", "nul_.tar.gz"), ("com1.txt", "com1_.txt"),
    ("Lpt9", "Lpt9_"), ("console.txt", "console.txt"), (unicodedata.normalize("NFD", "Café"), "Café"),
    ("\udcff.png", "_.png"),
])
def test_safe_segment_examples(name, safe):
    assert safe_segment(name) == safe
    assert problems(safe) == []


def test_long_names_keep_their_extension_and_stay_unique():
    a, b = safe_segment("é" * 200 + "a.png"), safe_segment("é" * 200 + "b.png")
    assert a != b and a.endswith(".png") and b.endswith(".png")
    assert len(a.encode()) <= MAX_SEGMENT_BYTES and "~" in a


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_any_string_becomes_a_safe_segment(name):
    safe = safe_segment(name)
    assert problems(safe) == [], (name, safe)
    assert safe_segment(safe) == safe
    if not problems(name):
        assert safe == name


@settings(max_examples=200, deadline=None)
@given(st.lists(any_text, max_size=12, unique=True))
def test_planned_names_are_safe_and_unique_when_case_is_ignored(names):
    names = [n for n in names if n and "/" not in n]
    planned = plan_paths(names)
    assert sorted(planned) == sorted(names)
    assert len({fold(p) for p in planned.values()}) == len(names)
    assert all(problems(p) == [] for p in planned.values())
    assert plan_paths(reversed(names)) == planned


segments = st.sampled_from(["a", "A", "á", "a\u0301", "CON", "con.txt", "x", "x.asset.json", "b?", "b:", "b_"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(segments, min_size=1, max_size=3).map("/".join), max_size=12, unique=True))
def test_planned_trees_stay_unique_and_keep_folders_together(paths):
    paths = [p for p in paths if not any(q.startswith(p + "/") for q in paths)]  # a file is not also a folder
    planned = plan_paths(paths)
    assert len({fold(p) for p in planned.values()}) == len(paths)
    folders: dict[str, str] = {}
    for old, new in planned.items():
        assert all(problems(part) == [] for part in new.split("/"))
        old_folder, new_folder = old.rpartition("/")[0], new.rpartition("/")[0]
        assert folders.setdefault(old_folder, new_folder) == new_folder


def test_plan_keeps_folders_and_sidecars_together():
    planned = plan_paths(["Assets/x.png", "assets/a.png", "assets/A.png", "assets/A.png.asset.json",
                          "assets/a.png.asset.json", "bundle_manifest.json"], reserved=["bundle_manifest.json"])
    assert planned["assets/a.png"] == "assets/a.png"  # unchanged lower-case names win
    assert planned["Assets/x.png"].startswith("Assets~") and planned["Assets/x.png"].endswith("/x.png")
    renamed = planned["assets/A.png"]
    assert renamed != "assets/A.png" and planned["assets/A.png.asset.json"] == renamed + ".asset.json"
    assert planned["bundle_manifest.json"] != "bundle_manifest.json"


# -- building -----------------------------------------------------------------------------------

def test_bundle_holds_the_project_with_portable_names(project, tmp_path):
    result = bundle.build("story", tmp_path / "story.zip")
    manifest = result["manifest"]
    with zipfile.ZipFile(tmp_path / "story.zip") as archive:
        names = archive.namelist()
        infos = archive.infolist()
        stored = json.loads(archive.read(bundle.MANIFEST))
    assert stored == manifest and names[-1] == bundle.MANIFEST
    assert names[:-1] == sorted(names[:-1]) == [e["bundled"] for e in manifest["entries"]]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.external_attr >> 16 == 0o644 for i in infos)
    by_path = {e["path"]: e for e in manifest["entries"]}
    assert {"project.json", "scenes/intro.json", "characters/alice.json", "timelines/main.json",
            "worlds/earth.json", "assets/music/theme.wav", "assets/music/theme.wav.asset.json"} <= set(by_path)
    assert not any(p.startswith(".index") or "corrupt" in p or p == "link.txt" for p in by_path)
    assert any(p.startswith("assets/.previews/") for p in by_path)  # thumbnails named by the sidecars
    skipped = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert skipped["link.txt"].startswith("symbolic link") and "corrupt" in skipped["scenes/old.json.corrupt-17"]
    for bundled in names[:-1]:
        assert all(problems(part) == [] for part in bundled.split("/")), bundled
    assert len({fold(n) for n in names}) == len(names)
    renamed = {r["from"]: r["to"] for r in manifest["renames"]}
    assert renamed["roleplay/raw/chat: \"one\"?.txt"] == "roleplay/raw/chat_ _one__.txt"
    assert renamed["roleplay/raw/CON.txt"] == "roleplay/raw/CON_.txt"
    assert renamed[unicodedata.normalize("NFD", "assets/backgrounds/Café.png")] == "assets/backgrounds/Café.png"
    beach = renamed["assets/backgrounds/Beach.png"]
    assert beach.startswith("assets/backgrounds/Beach~") and "assets/backgrounds/beach.png" not in renamed
    assert manifest["totals"]["renamed"] == len(manifest["renames"]) >= 5
    sidecar = by_path["assets/backgrounds/Beach.png.asset.json"]  # its path field follows the file
    assert sidecar["bundled"] == beach + ".asset.json"
    assert sidecar["rewrites"] == [{"pointer": "/path", "from": "backgrounds/Beach.png",
                                    "to": beach.removeprefix("assets/")}]
    with zipfile.ZipFile(tmp_path / "story.zip") as archive:
        assert json.loads(archive.read(sidecar["bundled"]))["path"] == beach.removeprefix("assets/")
        alice = json.loads(archive.read("characters/alice.json"))
        assert alice["metadata"]["portrait"] == beach  # records naming the file follow it too
        for entry in manifest["entries"]:
            data = archive.read(entry["bundled"])
            assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])


def test_same_project_same_bytes(project, tmp_path):
    first = bundle.build("story", tmp_path / "a.zip")
    second = bundle.build("story", tmp_path / "b" / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b" / "b.zip").read_bytes()
    assert first["sha256"] == second["sha256"]


def test_build_log_records_the_bundle(project, tmp_path):
    result = bundle.build("story", tmp_path / "story.zip")
    text = (runtime_paths.log_dir() / "export" / "build.log").read_text(encoding="utf-8")
    assert result["log"] == str(runtime_paths.log_dir() / "export" / "build.log")
    assert "project story (Story)" in text and str(tmp_path / "story.zip") in text
    assert "bundled scenes/intro.json -> scenes/intro.json" in text
    assert "renamed roleplay/raw/CON.txt -> roleplay/raw/CON_.txt: 'CON.txt': a Windows device name" in text
    assert "skipped link.txt: symbolic link" in text
    assert f"totals: {result['manifest']['totals']['files']} file(s)" in text


def test_build_refuses_unknown_projects_and_bad_destinations(project, tmp_path):
    with pytest.raises(NotFound, match="'nope' was not found"):
        bundle.build("nope", tmp_path / "x.zip")
    with pytest.raises(InvalidInput, match="is a folder"):
        bundle.build("story", tmp_path)
    with pytest.raises(InvalidInput, match="inside the project folder"):
        bundle.build("story", project / "story.zip")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInput, match="cannot write the bundle") as caught:
        bundle.build("story", blocker / "x.zip")
    assert caught.value.code == "unwritable_out"


# -- restoring ----------------------------------------------------------------------------------

def test_round_trip_restores_every_record_and_asset(project, tmp_path):
    bundle.build("story", tmp_path / "story.zip")
    result = bundle_restore.restore(tmp_path / "story.zip", "copy")
    assert result["project"] == "copy" and not result["replaced"]
    before, after = project_files(project), project_files(project_dir("copy"))
    assert sorted(after) == sorted(before)
    assert {k: v for k, v in after.items() if k != "project.json"} == {
        k: v for k, v in before.items() if k != "project.json"}
    old, new = json.loads(before["project.json"]), json.loads(after["project.json"])
    assert new == {**old, "id": "copy"}
    for kind_name in KINDS:
        items = store.collection(kind_name)
        assert [items.get("copy", i)["data"] for i in items.ids("copy")] == [
            items.get("story", i)["data"] for i in items.ids("story")]
    uids = sorted(s["uid"] for s in registry("story").sidecars())
    assert sorted(s["uid"] for s in registry("copy").open().sidecars()) == uids
    assert registry("copy").query(limit=100)["total"] == len(uids)
    assert not list(runtime_paths.workspaces_dir().glob(".restore-*"))


def test_restore_refuses_an_existing_project_unless_forced(project, tmp_path):
    bundle.build("story", tmp_path / "story.zip")
    with pytest.raises(Conflict, match="already exists"):
        bundle_restore.restore(tmp_path / "story.zip")
    store.create_project({"id": "other"})
    (project_dir("other") / "stray.txt").write_text("old")
    result = bundle_restore.restore(tmp_path / "story.zip", "other", force=True)
    assert result["replaced"] and not (project_dir("other") / "stray.txt").exists()
    assert store.get_project("other")["data"]["name"] == "Story"
    assert not list(runtime_paths.workspaces_dir().glob(".deleted-*"))


def craft(path: Path, members: dict[str, bytes], entries: list[dict] | None = None) -> Path:
    """A zip with these members and a manifest listing ``entries`` (default: every member)."""
    if entries is None:
        entries = [{"path": n, "bundled": n, "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                   for n, d in members.items()]
    manifest = {"format": bundle.FORMAT, "format_version": 1, "project": {"id": "evil", "name": "Evil"},
                "entries": entries}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(bundle.MANIFEST, json.dumps(manifest))
    return path


PROJECT_JSON = b'{"id": "evil", "name": "Evil", "created_at": "x", "updated_at": "x", "metadata": {}}'


@pytest.mark.parametrize("name", ["../evil.txt", "scenes/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt",
                                  "scenes\\..\\evil.txt", ".index/assets.sqlite"])
def test_zip_slip_bundles_are_refused_with_nothing_written(tmp_path, name):
    bad = craft(tmp_path / "bad.zip", {"project.json": PROJECT_JSON, name: b"pwned"})
    before = sorted(p.name for p in runtime_paths.workspaces_dir().glob("*")) \
        if runtime_paths.workspaces_dir().exists() else []
    with pytest.raises(InvalidInput) as caught:
        bundle_restore.restore(bad, "evil")
    assert caught.value.code == "unsafe_bundle_path" and repr(name) in caught.value.message
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    after = sorted(p.name for p in runtime_paths.workspaces_dir().glob("*")) \
        if runtime_paths.workspaces_dir().exists() else []
    assert after == before and "evil" not in after


def test_damaged_bundles_name_the_entry(project, tmp_path):
    bundle.build("story", tmp_path / "story.zip")
    with zipfile.ZipFile(tmp_path / "story.zip") as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    manifest = json.loads(members.pop(bundle.MANIFEST))
    tampered = dict(members, **{"scenes/intro.json": members["scenes/intro.json"].replace(b"Hello", b"Howdy")})
    bad = craft(tmp_path / "tampered.zip", tampered, manifest["entries"])
    with pytest.raises(InvalidInput, match=r"entry 'scenes/intro.json': its content does not match its sha256"):
        bundle_restore.restore(bad, "copy")
    extra = craft(tmp_path / "extra.zip", dict(members, **{"scenes/extra.json": b"{}"}), manifest["entries"])
    with pytest.raises(InvalidInput, match="entry 'scenes/extra.json': it is not listed in the manifest"):
        bundle_restore.verify(extra)
    missing = craft(tmp_path / "missing.zip", {k: v for k, v in members.items() if k != "worlds/earth.json"},
                    manifest["entries"])
    with pytest.raises(InvalidInput, match="entry 'worlds/earth.json': it is listed in the manifest but missing"):
        bundle_restore.restore(missing, "copy")
    with pytest.raises(PayloadTooLarge, match="over the limit"):
        bundle_restore.restore(tmp_path / "story.zip", "copy", max_entry_bytes=64)
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InvalidInput, match="not a readable zip archive"):
        bundle_restore.restore(tmp_path / "junk.zip", "copy")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as archive:
        archive.writestr("project.json", PROJECT_JSON)
    with pytest.raises(InvalidInput, match="has no bundle_manifest.json"):
        bundle_restore.restore(tmp_path / "plain.zip", "copy")
    assert not project_dir("copy").exists()
    assert not list(runtime_paths.workspaces_dir().glob(".restore-*"))


def test_restore_checks_hashes_after_a_partial_write(project, tmp_path):
    """A bad entry after good ones: the staging folder goes, no project appears."""
    bundle.build("story", tmp_path / "story.zip")
    with zipfile.ZipFile(tmp_path / "story.zip") as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    manifest = json.loads(members.pop(bundle.MANIFEST))
    last = manifest["entries"][-1]["bundled"]
    members[last] = bytes(len(members[last]))
    with pytest.raises(InvalidInput, match=f"entry '{last}'"):
        bundle_restore.restore(craft(tmp_path / "late.zip", members, manifest["entries"]), "copy")
    assert not project_dir("copy").exists()
    assert not list(runtime_paths.workspaces_dir().glob(".restore-*"))


# -- the command --------------------------------------------------------------------------------

def test_cli_dry_run_json_and_restore(project, tmp_path):
    out = tmp_path / "cli.zip"
    dry = cli.invoke(app, ["bundle", "--project", "story", "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "scenes/intro.json (" in dry.stdout and "roleplay/raw/CON.txt -> roleplay/raw/CON_.txt" in dry.stdout
    assert "skipped link.txt" in dry.stdout and not out.exists()
    made = cli.invoke(app, ["bundle", "-p", "story", "--out", str(out), "--json"])
    assert made.exit_code == 0, made.output
    answer = json.loads(made.stdout)
    assert answer["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    checked = cli.invoke(app, ["bundle", "--restore", str(out), "--dry-run"])
    assert checked.exit_code == 0 and "a valid bundle of project story" in checked.stdout
    restored = cli.invoke(app, ["bundle", "--restore", str(out), "--project", "copy"])
    assert restored.exit_code == 0 and "created project copy" in restored.stdout
    again = cli.invoke(app, ["bundle", "--restore", str(out), "--project", "copy"])
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert cli.invoke(app, ["bundle", "--restore", str(out), "-p", "copy", "--force"]).exit_code == 0


def test_cli_errors(project, tmp_path):
    unknown = cli.invoke(app, ["bundle", "--project", "nope", "--out", str(tmp_path / "x.zip")])
    assert unknown.exit_code == 1 and "project 'nope' was not found" in unknown.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    unwritable = cli.invoke(app, ["bundle", "-p", "story", "--out", str(blocker / "x.zip")])
    assert unwritable.exit_code == 1 and "cannot write the bundle" in unwritable.stderr
    slip = craft(tmp_path / "slip.zip", {"project.json": PROJECT_JSON, "../evil.txt": b"x"})
    refused = cli.invoke(app, ["bundle", "--restore", str(slip), "--project", "evil"])
    assert refused.exit_code == 1 and "entry '../evil.txt'" in refused.stderr
    both = cli.invoke(app, ["bundle", "--restore", str(slip), "--out", str(tmp_path / "y.zip")])
    assert both.exit_code == 2


def test_script_wrapper(project, tmp_path, runtime_root):
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_bundle.py"), "--project", "story",
                           "--out", str(tmp_path / "s.zip"), "--json"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["manifest"]["project"] == {"id": "story", "name": "Story"}
    bundle.build("story", tmp_path / "t.zip")  # the same bytes in another process
    assert (tmp_path / "s.zip").read_bytes() == (tmp_path / "t.zip").read_bytes()
