"""Ren'Py export through its public surfaces: the service, the CLI and the API. Determinism, dry
runs, escaping, imported chats, and Ren'Py's own lint on the result (when Ren'Py is installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.export import exporter, renpy_tool
from comfyvn.export.service import export_renpy
from comfyvn.projects import store
from tests.conftest import assert_envelope
from tests.support.scenes import sample_scene

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "sillytavern" / "synthetic"
needs_renpy = pytest.mark.skipif(renpy_tool.find_renpy() is None, reason="Ren'Py is not installed "
                                 "(apt-get install renpy; scripts/run_tests.sh installs it as root)")

TRICKY = {
    "id": "tricky", "title": 'Quotes "and" [brackets]', "start": "a",
    "variables": {"config": 1, "score": 0},
    "cast": [{"id": "mira", "name": 'Mira "M" [x]', "color": "#cc3366"}],
    "nodes": [
        {"id": "a", "speaker": "mira", "text": 'She said "hi" \\ [name] {b}bold{/b} 100%', "expression": "very happy",
         "actions": [{"type": "increment", "key": "score"}],
         "beats": [{"kind": "direction", "text": "*waves* {not a tag}"},
                   {"kind": "background", "image": "cafe night", "transition": {"style": "fade", "duration": 1}},
                   {"kind": "show", "character": "mira", "expression": "sad", "position": "left"},
                   {"kind": "wait", "seconds": 0.5},
                   {"kind": "narrate", "text": "Line one\nline two"}],
         "choices": [{"id": "c1", "label": 'Say "yes"', "target": "b",
                      "conditions": [{"key": "score", "operator": "gte", "value": 1}]},
                     {"id": "c2", "label": "[No]", "target": "b", "actions": [{"type": "set", "key": "config", "value": 2}]}]},
        {"id": "b", "type": "random", "text": "Fate.", "choices": [
            {"id": "r1", "target": "end", "weight": 2}, {"id": "r2", "target": "end", "weight": 0}]},
        {"id": "end", "type": "end", "speaker": "Stranger", "text": "Bye."},
    ],
}


def add_scene(scene: dict) -> None:
    store.require_project("default")
    store.collection("scene").create("default", scene)


def test_two_exports_are_byte_identical_and_dry_runs_write_nothing(tmp_path):
    add_scene(sample_scene())
    add_scene(TRICKY)
    scenes = exporter.load_scenes("default")
    first = exporter.build(scenes, exporter.Options(name="Game", seed=7), project="default")
    second = exporter.build(exporter.load_scenes("default"), exporter.Options(name="Game", seed=7), project="default")
    assert first.files == second.files
    out = tmp_path / "game"
    preview = export_renpy("default", out=out, dry_run=True, seed=7, name="Game")
    assert preview["changes"]["added"] == len(first.files) and not out.exists()
    written = export_renpy("default", out=out, lint=False, seed=7, name="Game")
    assert written["changes"]["added"] == len(first.files)
    again = export_renpy("default", out=out, dry_run=True, seed=7, name="Game")
    assert again["changes"] == {"added": 0, "changed": 0, "removed": 0, "unchanged": len(first.files)}
    store.collection("scene").delete("default", "tricky")
    after = export_renpy("default", out=out, dry_run=True, seed=7, name="Game")
    assert "game/scenes/tricky.rpy" in after["diff"]["removed"] and after["changes"]["changed"] >= 1
    export_renpy("default", out=out, lint=False, seed=7, name="Game")
    assert not (out / "game" / "scenes" / "tricky.rpy").exists()


def test_the_script_follows_the_scene(tmp_path):
    add_scene(TRICKY)
    built = exporter.build(exporter.load_scenes("default"), exporter.Options(seed="story"), project="default")
    script = built.files["game/scenes/tricky.rpy"].decode()
    assert 'cvn_ch_mira "She said \\"hi\\" \\\\ [[name] {{b}bold{{/b} 100%%" id tricky_a' in script
    assert '"{i}*waves* {{not a tag}{/i}"' in script and '"Line one\\nline two"' in script
    assert "scene bg cafe_night" in script and "with Fade(0.5, 0.0, 0.5)" in script and "pause 0.5" in script
    assert '"Say \\"yes\\"" if cvn_open(' in script and "$ cvn_i = cvn_pick(" in script
    defs = built.files["game/cvn_defs.rpy"].decode()
    assert "default v_config = 1" in defs and "default v_score = 0" in defs  # no clash with Ren'Py's config
    assert 'define cvn_ch_mira = Character(_("Mira \\"M\\" [[x]"), color="#cc3366", image="mira")' in defs
    assert "attribute very_happy" in defs and "attribute sad" in defs
    assert built.manifest["missing"]["backgrounds"] == ["cafe night"]
    assert json.loads(built.files["export_manifest.json"])["rng_state"] == built.manifest["rng_state"]


@needs_renpy
@pytest.mark.slow
def test_exports_pass_renpys_lint(tmp_path):
    add_scene(sample_scene())
    add_scene(TRICKY)
    result = export_renpy("default", out=tmp_path / "game", lint=True, name='A "quoted" [title]')
    assert result["lint"]["ok"], result["lint"]["errors"]


@needs_renpy
@pytest.mark.slow
def test_an_imported_sillytavern_chat_exports_lint_clean(tmp_path):
    from comfyvn.roleplay.service import import_log

    chats = sorted(p for p in FIXTURES.glob("*") if p.suffix in (".jsonl", ".txt"))  # every chat fixture
    if not chats:
        pytest.skip("shared fixtures not present")
    for path in chats:
        import_log(path.read_bytes(), path.name, swipes_as_choices=True)
    result = export_renpy("default", out=tmp_path / "game", lint=True, with_tests=True)
    assert result["lint"]["ok"], result["lint"]["errors"]
    assert result["tests"] and all(t["ok"] for t in result["tests"]), result["tests"]  # parity playthroughs
    assert len(result["manifest"]["scenes"]) >= len(chats)


def test_cli_and_api(client, tmp_path, server_env):
    add_scene(sample_scene())
    cli = [sys.executable, "-m", "comfyvn", "export", "renpy", "--out", str(tmp_path / "cli"), "--no-lint", "--json"]
    done = subprocess.run(cli, capture_output=True, text=True, env=server_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changes"]["added"] > 10
    bad = subprocess.run([*cli[:-1], "--project", "nope"], capture_output=True, text=True, env=server_env, timeout=120)
    assert bad.returncode == 2 and "nope" in bad.stderr
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_renpy.py"), "--out", str(tmp_path / "s"),
                             "--no-lint", "--dry-run"], capture_output=True, text=True, env=server_env, timeout=120)
    assert script.returncode == 0 and "would change" in script.stdout
    answer = client.post("/api/export/renpy", json={"out": str(tmp_path / "api"), "lint": False, "blocking": True})
    assert answer.status_code == 200, answer.text
    preview = client.get("/api/export/renpy/preview", params={"out": str(tmp_path / "api")}).json()
    assert preview["dry_run"] and preview["changes"]["changed"] == 0 and preview["changes"]["added"] == 0
    assert_envelope(client.post("/api/export/renpy", json={"project": "nope", "blocking": True}), 404)
    assert_envelope(client.post("/api/export/renpy", json={"seed": [1], "blocking": True}), 422)


def test_publish_archives_are_deterministic(tmp_path, server_env):
    import zipfile

    from comfyvn.export import publish

    add_scene(sample_scene())
    export_renpy("default", out=tmp_path / "game", lint=False, name="Zip Me")
    (tmp_path / "game" / "game" / "cache").mkdir()
    (tmp_path / "game" / "game" / "cache" / "junk.rpyb").write_bytes(b"x")  # Ren'Py's, never published
    first = publish.publish(tmp_path / "game", tmp_path / "a.zip", name="Zip Me", platforms=["linux", "win"])
    second = publish.publish(tmp_path / "game", tmp_path / "b.zip", name="Zip Me", platforms=["win", "linux"])
    assert first["sha256"] == second["sha256"] and (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "game/script.rpy" in names and "publish_manifest.json" in names and "platforms/linux/README.txt" in names
    assert not any("cache" in n for n in names)
    with pytest.raises(InvalidInput, match="platform"):
        publish.publish(tmp_path / "game", tmp_path / "c.zip", name="x", platforms=["amiga"])
    cli = [sys.executable, "-m", "comfyvn", "export", "renpy", "--out", str(tmp_path / "cli"), "--no-lint",
           "--publish", "--publish-out", str(tmp_path / "cli.zip"), "--platform", "linux"]
    done = subprocess.run(cli, capture_output=True, text=True, env=server_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert zipfile.ZipFile(tmp_path / "cli.zip").testzip() is None
    sdk = subprocess.run([*cli, "--invoke-sdk"], capture_output=True, text=True, env=server_env, timeout=120)
    assert sdk.returncode == 2 and "--renpy-sdk" in sdk.stderr


DICE = {  # a random branch first: which ending a seed reaches is the PRNG's decision, on both sides
    "id": "dice", "start": "roll", "variables": {"luck": 0},
    "nodes": [
        {"id": "roll", "type": "random", "text": "The die rolls.", "choices": [
            {"id": "low", "target": "low", "weight": 1, "actions": [{"type": "decrement", "key": "luck"}]},
            {"id": "mid", "target": "mid", "weight": 2},
            {"id": "high", "target": "high", "weight": 3, "actions": [{"type": "increment", "key": "luck", "value": 2}]}]},
        {"id": "low", "text": "Low.", "next": "ask"}, {"id": "mid", "text": "Middle.", "next": "ask"},
        {"id": "high", "text": "High!", "next": "ask"},
        {"id": "ask", "type": "choice", "text": "Again?", "choices": [
            {"id": "lucky", "label": "Lucky", "target": "win", "conditions": [{"key": "luck", "operator": "gt", "value": 0}]},
            {"id": "plain", "label": "Plain", "target": "done"}]},
        {"id": "win", "type": "end", "text": "You win."}, {"id": "done", "type": "end", "text": "Done."},
    ],
}


@needs_renpy
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_playthroughs_in_renpy_follow_the_runner(tmp_path):
    from comfyvn.scenario.models import parse_scene
    from comfyvn.scenario.runner import ScenarioRunner

    add_scene(DICE)
    for seed in (1, 3, 4):  # seeds that roll high, low and middle
        result = export_renpy("default", out=tmp_path / f"g{seed}", lint=True, with_tests=True, seed=seed)
        assert result["lint"]["ok"], result["lint"]["errors"]
        assert result["tests"] and all(t["ok"] for t in result["tests"]), result["tests"]
        rolled = ScenarioRunner(parse_scene(DICE)).run(ScenarioRunner(parse_scene(DICE)).start(seed=seed),
                                                       max_steps=1)[0].node
        source = (tmp_path / f"g{seed}" / "game" / "cvn_tests.rpy").read_text()
        assert f'"roll", "{rolled}"' in source  # the playthrough asserts the runner's roll


@needs_renpy
@pytest.mark.slow
def test_make_turns_the_bundled_sample_chat_into_a_linted_game(tmp_path, server_env):
    examples = ROOT / "examples"
    done = subprocess.run([sys.executable, "-m", "comfyvn", "make", str(examples / "lantern_cafe_chat.jsonl"),
                           str(examples / "mira_card.json"), "--out", str(tmp_path / "g"), "--project", "lantern"],
                          capture_output=True, text=True, env=server_env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ren'Py lint: clean" in done.stdout and f"play it: renpy {tmp_path / 'g'}" in done.stdout
    manifest = json.loads((tmp_path / "g" / "export_manifest.json").read_text())
    assert manifest["missing"]["sprites"] == [] and any(a["path"].startswith("images/characters/mira/")
                                                         for a in manifest["assets"])
    script = (tmp_path / "g" / "game" / "scenes").glob("*.rpy")
    assert any("Welcome to the Lantern Cafe!" in p.read_text() for p in script)


@needs_renpy
@pytest.mark.slow
def test_make_turns_a_chat_and_a_card_into_a_linted_game(tmp_path, server_env):
    chat = FIXTURES / "Seraphina - 2024-09-28@01h00m07s.jsonl"
    card = FIXTURES / "card_v2_chara_plus_v3_ccv3.png"
    if not chat.exists():
        pytest.skip("shared fixtures not present")
    done = subprocess.run([sys.executable, "-m", "comfyvn", "make", str(chat), str(card), "--out", str(tmp_path / "g")],
                          capture_output=True, text=True, env=server_env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ren'Py lint: clean" in done.stdout and "play it: renpy" in done.stdout
    manifest = json.loads((tmp_path / "g" / "export_manifest.json").read_text())
    assert manifest["missing"] == {"audio": [], "backgrounds": [], "sprites": []}  # everything drawn
    assert any(a["path"].startswith("images/characters/") for a in manifest["assets"])
    empty = subprocess.run([sys.executable, "-m", "comfyvn", "make", str(card), "--out", str(tmp_path / "h"),
                            "--project", "cards-only"],
                           capture_output=True, text=True, env=server_env, timeout=600)
    assert empty.returncode == 2 and "no scenes" in empty.stderr


def test_viewer_starts_tracks_and_stops_a_game(client, tmp_path, monkeypatch):
    from comfyvn.export.sample import ROOT as reference  # the read-only sample game in renpy_project/

    fake = tmp_path / "fake_renpy.py"  # stands in for Ren'Py: answers --version, then runs until stopped
    fake.write_text("#!/usr/bin/env python3\nimport sys, time\nif '--version' in sys.argv:\n"
                    "    print('Ren\\'Py 8.0.3.22090809')\n    sys.exit(0)\ntime.sleep(600)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("COMFYVN_RENPY_PROJECT_DIR", str(reference))
    assert client.get("/api/viewer/status").json()["running"] is False
    started = client.post("/api/viewer/start", json={"renpy_executable": str(fake)}).json()
    assert started["running"] and started["project_path"] == str(reference)
    assert client.get("/api/viewer/status").json()["pid"] == started["pid"]
    stopped = client.post("/api/viewer/stop").json()
    assert stopped["running"] is False and stopped["exit_code"] is not None
    (tmp_path / "empty").mkdir()
    assert_envelope(client.post("/api/viewer/start", json={"project_path": str(tmp_path / "empty")}), 422,
                    "not_a_game")
    assert_envelope(client.post("/api/viewer/start", json={"renpy_executable": str(tmp_path / "none")}), 422,
                    "invalid_renpy")  # the caller's input; 503 is for a server without Ren'Py
