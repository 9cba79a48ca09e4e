"""Export inputs and edges: a re-export removes only its own files, hanging playthroughs, audio
provenance, the preview's options, bad options refused before anything is written, dry-run file
lists, the viewer's bad Ren'Py paths, and a plain ``renpy <game>`` on Debian's Ren'Py."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comfyvn.assets import provenance
from comfyvn.assets import registry as assets
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.export import exporter, renpy_tool, service
from comfyvn.export.service import export_renpy
from comfyvn.projects import store
from tests.conftest import assert_envelope
from tests.support.scenes import sample_scene

ROOT = Path(__file__).resolve().parents[2]
PROV = {"tool": "test", "seed": 5, "prompt": "a secret prompt"}


def add_scene(scene: dict) -> None:
    store.require_project("default")
    store.collection("scene").create("default", scene)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "comfyvn", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(1600))
    return buffer.getvalue()


# 1. a re-export removes only files of its own ------------------------------------------------

def test_a_reexport_removes_only_regular_files_inside_the_export(tmp_path):
    add_scene(sample_scene())
    out = tmp_path / "game"
    export_renpy("default", out=out, lint=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [tmp_path / "victim", outside / "absolute", outside / "linked", outside / "through"]
    for victim in victims:
        victim.write_text("keep me")
    (out / "game" / "link.rpy").symlink_to(outside / "linked")  # a symlink in the export pointing out
    (out / "lnk").symlink_to(outside, target_is_directory=True)  # a folder symlink: lnk/through is outside
    (out / "game" / "old.rpy").write_text("# a file the last export wrote")
    manifest = json.loads((out / exporter.MANIFEST).read_text())
    manifest["files"] += ["../victim", str(outside / "absolute"), "game/link.rpy", "lnk/through",
                          "game/../../victim", "", 7, "game/old.rpy", "game/gone.rpy"]
    (out / exporter.MANIFEST).write_text(json.dumps(manifest))
    preview = export_renpy("default", out=out, dry_run=True)
    assert preview["diff"]["removed"] == ["game/old.rpy"]
    again = export_renpy("default", out=out, lint=False)
    assert again["changes"]["removed"] == 1 and not (out / "game" / "old.rpy").exists()
    assert all(victim.read_text() == "keep me" for victim in victims)
    assert (out / "game" / "link.rpy").is_symlink()


def test_a_damaged_manifest_removes_nothing(tmp_path):
    add_scene(sample_scene())
    out = tmp_path / "game"
    export_renpy("default", out=out, lint=False)
    for damaged in ('{"files": "game/script.rpy"}', "[1, 2]", "not json"):
        (out / exporter.MANIFEST).write_text(damaged)
        assert export_renpy("default", out=out, dry_run=True)["diff"]["removed"] == []


# 2. playthroughs that hang, or are not run ---------------------------------------------------

@pytest.fixture
def fake_renpy(monkeypatch):
    """Ren'Py stood in for: lint is clean; the first playthrough hangs, the others pass."""
    fake = renpy_tool.RenPy(version=(8, 0, 3), source="test", executable="/bin/false")
    played: list[str] = []

    def run_test(game, name, *, timeout, renpy):
        played.append(name)
        if len(played) == 1:
            raise renpy_tool.RenPyTimeout(f"Ren'Py did not finish within {timeout:g} s")
        return renpy_tool.TestRunReport(ok=True, exit_code=0, output="", seconds=1.0)

    monkeypatch.setattr(renpy_tool, "find_renpy", lambda **kwargs: fake)
    monkeypatch.setattr(renpy_tool, "require_renpy", lambda: fake)
    monkeypatch.setattr(renpy_tool, "lint", lambda game, renpy: renpy_tool.LintReport(
        ok=True, errors=[], notes=[], statistics=[], output="", seconds=0.5, exit_code=0))
    monkeypatch.setattr(renpy_tool, "run_test", run_test)
    monkeypatch.setattr(service, "TEST_TIMEOUT", 7.0)
    return played


def test_a_hanging_playthrough_fails_alone(tmp_path, fake_renpy):
    from comfyvn.cli import app

    add_scene(sample_scene())
    result = export_renpy("default", out=tmp_path / "game", with_tests=True)
    tests = result["tests"]
    assert len(tests) >= 2 and len(fake_renpy) == len(tests)  # the others still ran
    assert not tests[0]["ok"] and tests[0]["errors"][0].startswith("timed out after 7 s")
    assert all(t["ok"] for t in tests[1:]) and result["lint"]["ok"]
    fake_renpy.clear()
    done = CliRunner().invoke(app, ["export", "renpy", "--out", str(tmp_path / "cli"), "--with-tests"])
    assert done.exit_code == 1, done.output  # a failed playthrough, not an aborted export (2)
    assert "timed out after 7 s" in done.output and "lint clean" in done.output


def test_tests_without_lint_are_written_and_a_note_says_they_did_not_run(tmp_path, server_env):
    add_scene(sample_scene())
    done = cli("export", "renpy", "--out", str(tmp_path / "g"), "--with-tests", "--no-lint", env=server_env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "g" / "game" / "cvn_tests.rpy").is_file()
    assert "note:" in done.stdout and "not run" in done.stdout and "--no-lint" in done.stdout
    quiet = cli("export", "renpy", "--out", str(tmp_path / "h"), "--no-lint", env=server_env)
    assert "note:" not in quiet.stdout


# 4. audio provenance ---------------------------------------------------------------------------

def test_audio_copies_lose_their_embedded_provenance(tmp_path):
    pytest.importorskip("mutagen")
    assets.reset()
    store.require_project("default")
    reg = assets.registry("default").open()
    sidecar, _ = reg.add_bytes(wav_bytes(), path="music/theme.wav", type="music", provenance=PROV)
    stored = reg.file_of(sidecar["uid"])
    assert provenance.read_audio(stored) is not None  # the registry embedded it
    add_scene({"id": "tune", "start": "a", "nodes": [
        {"id": "a", "text": "Listen.", "end": True, "beats": [{"kind": "music", "track": sidecar["uid"]}]}]})
    result = export_renpy("default", out=tmp_path / "game", lint=False)
    [entry] = [a for a in result["manifest"]["assets"] if a["uid"] == sidecar["uid"]]
    copy = tmp_path / "game" / "game" / entry["path"]
    assert copy.is_file() and provenance.read_audio(copy) is None
    assert b"a secret prompt" in stored.read_bytes() and b"a secret prompt" not in copy.read_bytes()
    with wave.open(str(copy)) as sound:  # still a playable WAV
        assert sound.getnframes() == 800


@pytest.mark.parametrize("ext", ["wav", "mp3", "ogg", "opus", "flac"])
def test_strip_audio_bytes_removes_the_tag_of_every_format_we_embed(tmp_path, ext):
    pytest.importorskip("mutagen")
    from tests.assets.test_provenance import audio_file

    path = audio_file(tmp_path, ext)
    assert provenance.embed_audio(path, PROV) == "embedded"
    status, data = provenance.strip_audio_bytes(path.read_bytes())
    assert status == "stripped" and b"a secret prompt" not in data
    copy = tmp_path / f"copy.{ext}"
    copy.write_bytes(data)
    assert provenance.read_audio(copy) is None
    assert provenance.strip_audio_bytes(data) == ("absent", data)


def test_strip_audio_bytes_leaves_other_files_alone():
    data = b"\xff\xd8\xff\xe0 not audio"
    assert provenance.strip_audio_bytes(data) == ("skipped: jpg not supported", data)


# 5. the preview takes the export's options -------------------------------------------------------

def test_the_preview_equals_a_dry_run_with_the_same_options(client, tmp_path):
    add_scene(sample_scene())
    add_scene({"id": "second", "start": "a", "nodes": [{"id": "a", "text": "Two.", "end": True}]})
    out = tmp_path / "game"
    export_renpy("default", out=out, lint=False)
    params = {"out": str(out), "name": "Other Title", "version": "2.1", "with_tests": "true", "seed": "9",
              "scenes": ["second", "sample", "second"]}
    preview = client.get("/api/export/renpy/preview", params=params)
    assert preview.status_code == 200, preview.text
    expected = export_renpy("default", out=out, name="Other Title", version="2.1", with_tests=True, seed=9,
                            scenes=["second", "sample"], dry_run=True)
    assert preview.json() == json.loads(json.dumps(expected))
    body = preview.json()
    assert body["manifest"]["name"] == "Other Title" and body["manifest"]["testcases"]
    assert [s["id"] for s in body["manifest"]["scenes"]] == ["second", "sample"]  # duplicates dropped
    assert "game/cvn_tests.rpy" in body["diff"]["added"]
    assert_envelope(client.get("/api/export/renpy/preview", params={"version": "1 0"}), 422)


# 6. bad input: refused before anything is written --------------------------------------------

def test_bad_export_options_are_refused_before_writing(tmp_path, server_env):
    add_scene(sample_scene())
    (tmp_path / "archive_dir").mkdir()
    out = tmp_path / "g"
    cases = [
        (["--publish", "--publish-out", str(tmp_path / "archive_dir")], "is a folder"),
        (["--platform", "amiga"], "unknown platform"),
        (["--game-version", "1 0"], "version"),
        (["--publish", "--invoke-sdk", "--renpy-sdk", str(tmp_path / "nosdk")], "not a Ren'Py SDK"),
    ]
    for extra, message in cases:
        done = cli("export", "renpy", "--out", str(out), "--no-lint", *extra, env=server_env)
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (extra, done.stderr)
        assert not out.exists(), extra
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(InvalidInput, match="out: "):
            export_renpy("default", out=target, lint=False)
    with pytest.raises(InvalidInput, match="version"):
        export_renpy("default", out=out, lint=False, version="../../x")
    assert not out.exists()


def test_make_checks_out_and_provider_before_importing(tmp_path, server_env):
    chat = ROOT / "examples" / "lantern_cafe_chat.jsonl"
    (tmp_path / "file").write_text("x")
    for extra, message in ((["--out", str(tmp_path / "file")], "is a file"),
                           (["--out", str(tmp_path / "g"), "--provider", "bogus"], "unknown provider")):
        done = cli("make", str(chat), "--project", "fresh", *extra, env=server_env)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    with pytest.raises(NotFound):
        store.get_project("fresh")  # nothing was imported
    assert not (tmp_path / "g").exists()


def test_duplicate_scene_ids_are_exported_once(tmp_path):
    add_scene(sample_scene())
    result = export_renpy("default", out=tmp_path / "g", lint=False, scenes=["sample", "sample"])
    assert [s["id"] for s in result["manifest"]["scenes"]] == ["sample"]
    script = (tmp_path / "g" / "game" / "script.rpy").read_text()
    assert script.count("call ") == 1


# 7. a dry run lists the files ----------------------------------------------------------------------

def test_a_dry_run_prints_the_files_it_would_change(tmp_path, server_env, capsys):
    from comfyvn.export import cli as export_cli

    add_scene(sample_scene())
    done = cli("export", "renpy", "--out", str(tmp_path / "g"), "--dry-run", env=server_env)
    assert done.returncode == 0, done.stderr
    assert "added:\n  export_manifest.json\n" in done.stdout and "  game/script.rpy\n" in done.stdout
    assert "changed:" not in done.stdout and not (tmp_path / "g").exists()
    export_cli._print_paths("removed", [f"f{n}" for n in range(53)])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "removed:" and printed[50] == "  f49" and printed[51] == "  ... and 3 more"


# 8. the viewer: a bad Ren'Py path is the caller's error ------------------------------------------

def test_viewer_names_the_bad_renpy_field(client, monkeypatch):
    from comfyvn.export.sample import ROOT as reference

    monkeypatch.setenv("COMFYVN_RENPY_PROJECT_DIR", str(reference))
    error = assert_envelope(client.post("/api/viewer/start", json={"renpy_sdk": "/nonexistent/sdk"}), 422,
                            "invalid_renpy")
    assert error["details"]["field"] == "renpy_sdk" and "renpy_sdk" in error["message"]
    error = assert_envelope(client.post("/api/viewer/start", json={"renpy_executable": "/nonexistent/renpy"}),
                            422, "invalid_renpy")
    assert error["details"]["field"] == "renpy_executable"
    assert client.get("/api/viewer/status").json()["running"] is False


# 3. `renpy <game>` works without our launcher -------------------------------------------------------

def _plain(renpy: renpy_tool.RenPy) -> list[str]:
    """The command a user types: Debian's /usr/games/renpy (or the found Ren'Py started directly,
    never through comfyvn/export/renpy_fix.py)."""
    for candidate in (shutil.which("renpy"), "/usr/games/renpy"):
        if candidate and Path(candidate).is_file():
            return [candidate]
    return [renpy.python, renpy.script] if renpy.python and renpy.script else [str(renpy.executable)]


def _run_plain(renpy: renpy_tool.RenPy, game: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    copy = work / "game_copy"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(game, copy)
    (work / "home").mkdir()
    env = dict(os.environ, HOME=str(work / "home"), SDL_VIDEODRIVER="offscreen", SDL_AUDIODRIVER="dummy")
    return subprocess.run([*_plain(renpy), str(copy), *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_plain_renpy_lints_and_plays_an_export(tmp_path, renpy):
    add_scene(sample_scene())
    result = export_renpy("default", out=tmp_path / "g", lint=False, with_tests=True)
    game = tmp_path / "g"
    assert (game / "game" / "cvn_compat.rpy").is_file()
    report = tmp_path / "lint.txt"
    lint = _run_plain(renpy, game, tmp_path / "w1", "lint", str(report), "--error-code")
    assert lint.returncode == 0 and report.is_file(), lint.stdout + lint.stderr
    assert renpy_tool.parse_lint(report.read_text("utf-8-sig"))[0] == []
    played = _run_plain(renpy, game, tmp_path / "w2", "test", result["manifest"]["testcases"][0])
    assert played.returncode == 0, played.stdout + played.stderr
    if renpy.needs_fix:  # the fix file is what makes it work here
        (game / "game" / "cvn_compat.rpy").unlink()
        broken = _run_plain(renpy, game, tmp_path / "w3", "test", result["manifest"]["testcases"][0])
        assert broken.returncode != 0 and "is not valid" in broken.stdout + broken.stderr
