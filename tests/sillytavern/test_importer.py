"""The SillyTavern library importer: classify, discover, import_items, and `comfyvn import`."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from comfyvn.assets import previews
from comfyvn.assets.registry import registry as assets_of
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.player import registry
from comfyvn.projects import store
from comfyvn.projects.paths import project_dir
from comfyvn.sillytavern import importer
from comfyvn.sillytavern.folders import classify, discover
from tests.sillytavern.builders import charx, fixture, v3

SOLO = "Seraphina - 2024-09-28@01h00m07s.jsonl"
GROUP_CHAT = "2024-09-28@02h10m00s.jsonl"


def image(color: tuple[int, int, int], kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(out, kind)
    return out.getvalue()


JOY, SADNESS, ANGER = image((250, 200, 0)), image((0, 0, 250)), image((250, 0, 0))


def settings_fragment() -> dict:
    return {"username": "User", "power_user": {
        "personas": {"user-default.png": "User", "1727478000000-Wanderer.png": "Wanderer", "Nova.png": "Nova"},
        "persona_descriptions": {"1727478000000-Wanderer.png": {"description": "{{user}} is a lost traveler.",
                                                                "position": 0, "depth": 2, "role": 0}},
        "default_persona": "1727478000000-Wanderer.png"}}


def make_library(base: Path, user: str = "default-user") -> Path:
    """A SillyTavern folder (``base``/data/<user>/...) built from the shared fixtures, plus a V3 CHARX
    card and a V3 JSON card with embedded emotions, and two corrupt files. Returns the user folder."""
    folder = base / "data" / user
    for sub in ("chats/default_Seraphina", "group chats", "groups", "characters/default_Seraphina", "worlds",
                "User Avatars", "backups"):
        (folder / sub).mkdir(parents=True, exist_ok=True)

    def put(relative: str, fixture_path: str) -> None:
        (folder / relative).write_bytes(fixture(f"sillytavern/{fixture_path}"))

    put("characters/default_Seraphina.png", "default-content/default_Seraphina.png")
    put("characters/default_Seraphina/joy.png", "default-content/joy.png")
    put("worlds/Eldoria.json", "default-content/Eldoria.json")
    put("User Avatars/user-default.png", "default-content/user-default.png")
    put(f"chats/default_Seraphina/{SOLO}", f"synthetic/{SOLO}")
    put(f"group chats/{GROUP_CHAT}", "synthetic/group chats__2024-09-28@02h10m00s.jsonl")
    put("groups/1727482200000.json", "synthetic/groups__1727482200000.json")
    put("backups/personas_20240928.json", "synthetic/personas_20240928.json")
    (folder / "settings.json").write_text(json.dumps(settings_fragment()))
    mira = v3(name="Mira", assets=[
        {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/joy.png", "name": "joy", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/sad.png", "name": "Sadness", "ext": "png"}])
    (folder / "characters" / "Mira.charx").write_bytes(
        charx(mira, {"assets/emotion/joy.png": JOY, "assets/emotion/sad.png": SADNESS}))
    uri = "data:image/png;base64," + base64.b64encode(ANGER).decode()
    nova = v3(name="Nova", assets=[{"type": "emotion", "uri": uri, "name": "anger", "ext": "png"}])
    (folder / "characters" / "Nova.json").write_text(json.dumps(nova))
    (folder / "characters" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "worlds" / "broken.json").write_text('{"entries": {"0": ')
    return folder


@pytest.fixture
def library(tmp_path) -> Path:
    make_library(tmp_path / "SillyTavern")
    return tmp_path / "SillyTavern"


def rows_by_item(report: dict) -> dict[str, dict]:
    return {row["item"]: row for row in report["items"]}


# -- classify and discover ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "kind"), [
    ("sillytavern/default-content/default_Seraphina.png", "card"),
    ("sillytavern/default-content/Eldoria.json", "world"),
    ("sillytavern/synthetic/worldinfo_full_fields.json", "world"),
    ("sillytavern/synthetic/personas_20240928.json", "personas"),
    ("sillytavern/synthetic/groups__1727482200000.json", "group"),
    (f"sillytavern/synthetic/{SOLO}", "chat"),
    ("sillytavern/synthetic/group chats__2024-09-28@02h10m00s.jsonl", "chat"),
    ("sillytavern/synthetic/Seraphina - 2024-09-28@01h00m07s.txt", "chat"),
    ("other-formats/oobabooga-character-Example.json", "card"),
])
def test_classify_the_fixtures(path, kind):
    assert classify(fixture(path), Path(path).name) == kind


def test_classify_other_content():
    assert classify(charx(v3()), "x.charx") == "card"
    assert classify(json.dumps(v3()).encode(), "card.json") == "card"
    assert classify(b"name: Mira\ncontext: A cartographer.\ngreeting: Hi!\n", "mira.yaml") == "card"
    assert classify(json.dumps(settings_fragment()).encode(), "settings.json") == "personas"
    assert classify(json.dumps({"name": "Mira", "greeting": "Hi", "messages": [{"msg": "Hi"}]}).encode(), "a.json") \
        != "card"  # an Agnai chat export has name + greeting too
    assert classify(b"\x00\x01\x02binary", "x.bin") is None
    assert classify(json.dumps({"theme": "dark"}).encode(), "settings.json") is None


def test_discover_from_the_root_data_folder_and_user_folder(library):
    plans = [discover(library), discover(library / "data"), discover(library / "data" / "default-user")]
    names = [[item.name for item in plan.items] for plan in plans]
    assert names[0] == names[1] == names[2]
    plan = plans[0]
    assert plan.user == "default-user" and plan.layout == "data"
    order = [{"world": 0, "personas": 1, "card": 2, "chat": 3, "group": 3}[item.kind] for item in plan.items]
    assert order == sorted(order) and set(order) == {0, 1, 2, 3}  # worlds, personas, cards, then chats
    by_name = {item.name: item for item in plan.items}
    assert by_name["settings.json"].kind == "personas"  # settings.json wins over the backup
    assert "backups/personas_20240928.json" not in by_name and "personas_20240928" in " ".join(plan.notes)
    assert set(by_name["settings.json"].avatars) == {"user-default.png"}
    assert set(by_name["characters/default_Seraphina.png"].sprites) == {"joy"}
    assert by_name[f"group chats/{GROUP_CHAT}"].title == "Glade Party - 2024-09-28@02h10m00s"
    assert by_name[f"chats/default_Seraphina/{SOLO}"].kind == "chat"
    assert by_name["groups/1727482200000.json"].kind == "group"


def test_discover_the_older_public_layout_and_backup_personas(tmp_path, library):
    public = tmp_path / "old" / "public"
    shutil.copytree(library / "data" / "default-user", public)
    (public / "settings.json").unlink()
    plan = discover(tmp_path / "old")
    assert plan.layout == "public" and plan.user == "public"
    assert "backups/personas_20240928.json" in [item.name for item in plan.items]
    assert discover(public).layout == "public"


def test_discover_chooses_a_user(tmp_path, library):
    make_library(library, "alice")  # library/data/alice
    assert discover(library).user == "default-user"  # the default user when there are several
    assert discover(library, "alice").user == "alice"
    shutil.rmtree(library / "data" / "default-user")
    make_library(library, "bob")
    with pytest.raises(InvalidInput) as several:
        discover(library)
    assert several.value.code == "user_required" and several.value.details["users"] == ["alice", "bob"]
    assert "alice, bob" in several.value.message
    with pytest.raises(InvalidInput) as unknown:
        discover(library, "carol")
    assert unknown.value.code == "unknown_user" and "alice, bob" in unknown.value.message
    shutil.rmtree(library / "data" / "bob")
    assert discover(library).user == "alice"  # the only user


def test_folders_that_are_not_sillytavern(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    with pytest.raises(importer.NotSillyTavernFolder) as error:
        discover(tmp_path / "notes")
    assert error.value.code == "not_sillytavern_folder" and "data/<user>/" in error.value.message
    project = project_dir(store.require_project("default"))
    (project / "characters").mkdir(parents=True, exist_ok=True)  # a ComfyVN project is not a SillyTavern folder
    with pytest.raises(importer.NotSillyTavernFolder):
        discover(project)


def test_plan_path_errors(tmp_path, library):
    with pytest.raises(InvalidInput) as missing:
        importer.plan_path(tmp_path / "nope")
    assert missing.value.code == "invalid_path" and str(tmp_path / "nope") in missing.value.message
    with pytest.raises(InvalidInput) as relative:
        importer.plan_path("data/default-user")
    assert "relative" in relative.value.message
    assert importer.plan_path("data/default-user", root=library).user == "default-user"
    single = importer.plan_path(library / "data" / "default-user" / "worlds" / "Eldoria.json")
    assert [item.name for item in single.items] == ["Eldoria.json"] and single.items[0].kind is None


# -- importing ------------------------------------------------------------------------------------

def test_import_a_whole_library(library):
    seen = []
    modder_hooks.subscribe("on_character_imported", seen.append)
    report = importer.import_items(discover(library).items)
    rows = rows_by_item(report)
    assert report["counts"]["error"] == 2 and report["counts"]["ok"] == len(rows) - 2
    assert rows["characters/broken.png"]["status"] == "error"
    assert rows["characters/broken.png"]["error"]["code"] == "unreadable_card"
    assert rows["characters/broken.png"]["error"]["message"].startswith("characters/broken.png: a PNG image without")
    broken_world = rows["worlds/broken.json"]["error"]
    assert broken_world["code"] == "unreadable_world" and "not valid JSON" in broken_world["message"]
    assert broken_world["details"]["format"] == "worldinfo"

    characters = store.collection("character")
    ids = set(characters.ids())
    assert {"seraphina", "mira", "nova", "aria"} <= ids
    sera = characters.get("default", "seraphina")["data"]
    assert sera["metadata"]["lorebook"] == "eldoria" and sera["metadata"]["imported_from"] == "card"
    assert sera["metadata"]["greetings"][0].startswith("*You wake with a start")
    assert sera["card"]["spec"] == "chara_card_v2" and "joy" in sera["expressions"]
    joy = sera["metadata"]["expression_assets"]["joy"]
    assert joy["source"] == "sprite_folder"
    assert (project_dir("default") / joy["path"]).read_bytes() == fixture("sillytavern/default-content/joy.png")
    mira = characters.get("default", "mira")["data"]
    assert mira["expressions"] == ["joy", "sadness"]
    stored = mira["metadata"]["expression_assets"]
    assert stored["sadness"]["path"].startswith("assets/characters/mira/expressions/sadness-")
    assert stored["joy"]["source"] == "card"
    assert (project_dir("default") / stored["joy"]["path"]).read_bytes() == JOY
    assert (project_dir("default") / stored["sadness"]["path"]).read_bytes() == SADNESS
    nova = characters.get("default", "nova")["data"]["metadata"]["expression_assets"]
    assert (project_dir("default") / nova["anger"]["path"]).read_bytes() == ANGER
    sprites = assets_of("default").query(type="character.expression", tags=["mira"])["items"]
    assert {s["uid"] for s in sprites} == {stored["joy"]["asset_uid"], stored["sadness"]["asset_uid"]}
    assert {s["meta"]["expression"] for s in sprites} == {"joy", "sadness"}
    assert characters.list("default")  # the expression folders do not disturb the listing

    world = store.collection("world").get("default", "eldoria")["data"]
    assert world["metadata"]["format"] == "worldinfo" and len(world["entries"]) == 4
    sera_row = rows["characters/default_Seraphina.png"]
    assert any("kept that world" in w["message"] for w in sera_row["warnings"])

    scenes = store.collection("scene").list("default")
    assert any(s["title"] == "Glade Party - 2024-09-28@02h10m00s" for s in scenes)
    assert rows[f"chats/default_Seraphina/{SOLO}"]["result"]["format"] == "sillytavern.jsonl"
    assert rows["groups/1727482200000.json"]["result"]["members"] == ["default_Seraphina.png", "Aria.png"]

    roster = registry.list_personas()
    assert {p["name"] for p in roster["personas"]} == {"User", "Wanderer", "Nova"}
    assert roster["default"] == roster["active"] == "1727478000000-wanderer"
    assert registry.active_name() == "Wanderer"
    user = registry.get_persona("user-default")
    assert (registry.persona_dir() / user["metadata"]["avatar_path"]).read_bytes() == \
        fixture("sillytavern/default-content/user-default.png")
    state = json.loads(registry.state_path().read_text())
    assert state["active"] == "1727478000000-wanderer"

    cards = [e["payload"] for e in seen if e["payload"]["source"] == "card"]
    assert {p["character_id"] for p in cards} == {"seraphina", "mira", "nova"} and all(p["created"] for p in cards)


def test_reimport_updates_and_matches_by_name(library):
    characters = store.collection("character")
    store.require_project("default")
    characters.create("default", {"id": "sera", "name": "Seraphina", "appearance": "pink hair", "color": "#ff00aa"})
    first = importer.import_items(discover(library, kinds=["characters"]).items)
    assert first["counts"]["kinds"] == {"characters": {"ok": 3, "error": 1, "skipped": 0}}
    assert "seraphina" not in characters.ids()
    sera = characters.get("default", "sera")["data"]
    assert sera["appearance"] == "pink hair" and sera["color"] == "#ff00aa" and sera["card"]
    assert rows_by_item(first)["characters/default_Seraphina.png"]["result"]["created"] is False
    assert rows_by_item(first)["characters/default_Seraphina.png"]["result"]["world"] == "eldoria"
    again = importer.import_items(discover(library, kinds=["characters"]).items)
    assert all(row["result"]["created"] is False for row in again["items"] if row["status"] == "ok")
    assert store.collection("world").get("default", "eldoria")["data"]["metadata"]["format"] == "card_book"


def test_a_failed_write_leaves_the_item_out_and_the_rest_in(library, monkeypatch):
    from comfyvn.core import store as core_store

    real = core_store.atomic_write_bytes

    def failing(path, data, **kw):
        if "mira" in str(path) and "sadness" in str(path):
            raise OSError(28, "No space left on device")
        return real(path, data, **kw)

    monkeypatch.setattr(core_store, "atomic_write_bytes", failing)
    report = importer.import_items(discover(library).items, kinds=["characters"])
    rows = rows_by_item(report)
    assert rows["characters/Mira.charx"]["status"] == "error"
    assert "No space left" in rows["characters/Mira.charx"]["error"]["message"]
    assert not (project_dir("default") / "characters" / "mira").exists()
    assert "mira" not in store.collection("character").ids()
    assert rows["characters/Nova.json"]["status"] == "ok"


def test_kinds_and_single_files(library, tmp_path):
    folder = library / "data" / "default-user"
    report = importer.import_items(discover(library, kinds=["worlds"]).items, kinds=["worlds"])
    assert {row["kind"] for row in report["items"]} == {"world"}
    files = [importer.Item(p.name, p) for p in (folder / "worlds" / "Eldoria.json", folder / "settings.json")]
    skipped = importer.import_items(files, kinds=["chats"])
    assert [row["status"] for row in skipped["items"]] == ["skipped", "skipped"]
    unknown = importer.import_items([importer.Item("x.bin", data=b"\x00\x01")])
    assert unknown["items"][0]["error"]["code"] == "unknown_file"
    with pytest.raises(InvalidInput) as error:
        importer.require_success(unknown)
    assert error.value.code == "unknown_file"


def test_the_active_persona_names_a_user_the_file_does_not_name():
    from comfyvn.sillytavern.personas import Persona

    registry.import_roster([Persona(id="wanderer", avatar="w.png", name="Wanderer")], "wanderer")
    ooba = json.dumps({"internal": [["Hi there.", "Hello, traveller."]], "visible": [["Hi there.", "Hello."]]})
    report = importer.import_items([importer.Item("chat.json", data=ooba.encode())])
    row = report["items"][0]
    assert row["status"] == "ok" and any("active persona" in w["message"] for w in row["warnings"])
    preview = store.collection("scene").get("default", row["result"]["scenes"][0])["data"]
    assert {"id": "wanderer", "name": "Wanderer", "role": "user"} in preview["cast"]
    st_chat = importer.import_items([importer.Item(SOLO, data=fixture(f"sillytavern/synthetic/{SOLO}"))])
    scene = store.collection("scene").get("default", st_chat["items"][0]["result"]["scenes"][0])["data"]
    assert any(c["name"] == "User" and c["role"] == "user" for c in scene["cast"])  # SillyTavern names the user


# -- the command line -----------------------------------------------------------------------------

def invoke(*args: str):
    from comfyvn.cli import app

    return CliRunner().invoke(app, ["import", *args])


def test_cli_imports_a_sillytavern_folder(library):
    result = invoke(str(library))
    assert result.exit_code == 1, result.output  # the two corrupt files
    for text in ("item", "kind", "result/uid", "warnings", "mira", "eldoria", "broken.png", "2 failed"):
        assert text in result.output
    assert {"seraphina", "mira", "nova"} <= set(store.collection("character").ids())
    assert registry.active_name() == "Wanderer"


def test_cli_folders_kinds_and_bad_arguments(library, tmp_path):
    folder = library / "data" / "default-user"
    ok = invoke(str(folder / "worlds" / "Eldoria.json"), str(folder / "chats"), "--kinds", "worlds,chats")
    assert ok.exit_code == 0, ok.output
    assert "eldoria" in store.collection("world").ids() and store.collection("scene").ids()
    make_library(library, "zed")
    shutil.rmtree(folder)
    make_library(library, "amy")
    several = invoke(str(library))
    assert several.exit_code == 2 and "amy, zed" in several.output
    assert invoke(str(library), "--user", "amy", "--kinds", "worlds").exit_code == 1  # broken.json
    assert invoke(str(tmp_path / "missing")).exit_code == 2
    assert invoke(str(library), "--kinds", "songs").exit_code == 2
    assert invoke(str(library), "--detail", "extreme").exit_code == 2
    chat = folder.parent / "amy" / "chats" / "default_Seraphina" / SOLO
    forced = invoke(str(chat), "--format", "nope")
    assert forced.exit_code == 1 and "unknown format 'nope'" in forced.output
    assert invoke(str(chat), "--format", "sillytavern.jsonl").exit_code == 0
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "photo.png").write_bytes(JOY)
    searched = invoke(str(tmp_path / "pics"))
    assert searched.exit_code == 0 and "skipped" in searched.output


def test_expression_labels_files_and_a_changed_extension():
    card = v3(name="Pia", assets=[
        {"type": "emotion", "uri": "embeded://a.png", "name": "Very Happy", "ext": "png"},
        {"type": "emotion", "uri": "embeded://b.png", "name": "very-happy", "ext": "png"},
        {"type": "emotion", "uri": "embeded://c.mp3", "name": "laugh", "ext": "mp3"},
        {"type": "emotion", "uri": "embeded://missing.png", "name": "fear", "ext": "png"}])
    data = charx(card, {"a.png": JOY, "b.png": SADNESS, "c.mp3": b"ID3"})
    old = project_dir("default") / "characters" / "pia" / "expressions" / "very-happy.png"  # before the registry
    row = importer.import_items([importer.Item("Pia.charx", data=data)])["items"][0]
    assert row["status"] == "ok", row
    pia = store.collection("character").get("default", "pia")["data"]
    assets = pia["metadata"]["expression_assets"]
    assert sorted(assets) == ["very happy", "very-happy"] and {"very happy", "very-happy"} <= set(pia["expressions"])
    stems = sorted(a["path"].rsplit("-", 1)[0] for a in assets.values())
    assert stems == ["assets/characters/pia/expressions/very-happy", "assets/characters/pia/expressions/very-happy-2"]
    messages = " ".join(w["message"] for w in row["warnings"])
    assert "'laugh'" in messages and "missing.png" in messages
    webp = charx(v3(name="Pia", assets=[{"type": "emotion", "uri": "embeded://a.webp", "name": "Very Happy",
                                         "ext": "webp"}]), {"a.webp": image((9, 9, 9), "WEBP")})
    first_uid = assets["very happy"]["asset_uid"]
    importer.import_items([importer.Item("Pia.charx", data=webp)])
    folder = assets_of("default").root / "characters" / "pia" / "expressions"
    names = sorted(p.name.rsplit("-", 1)[0] + "." + p.name.rsplit(".", 1)[-1] for p in folder.iterdir()
                   if not p.name.endswith(".asset.json"))
    assert names == ["very-happy-2.png", "very-happy.webp"]  # the replaced PNG asset is gone
    assert first_uid not in {s["uid"] for s in assets_of("default").query(limit=500)["items"]}
    assert not old.exists()


def test_the_job_only_deletes_its_own_uploads(tmp_path):
    from comfyvn.core.job_types import JobContext
    from comfyvn.sillytavern import jobs

    keep = tmp_path / "Eldoria.json"
    keep.write_bytes(fixture("sillytavern/default-content/Eldoria.json"))
    params = {"files": [{"path": str(keep), "name": "Eldoria.json"}]}
    seen = []
    result = jobs.run_import(JobContext("j1", params, on_progress=lambda f, m: seen.append(f), on_log=print))
    assert result["items"][0]["id"] == "eldoria" and seen[-1] == 1.0
    assert keep.exists()


def test_a_label_keeps_its_file_and_others_stay_reserved():
    first = v3(name="Ola", assets=[
        {"type": "emotion", "uri": "embeded://a.png", "name": "Very Happy", "ext": "png"},
        {"type": "emotion", "uri": "embeded://b.png", "name": "very-happy", "ext": "png"}])
    importer.import_items([importer.Item("Ola.charx", data=charx(first, {"a.png": JOY, "b.png": SADNESS}))])
    second = v3(name="Ola", assets=[{"type": "emotion", "uri": "embeded://b.png", "name": "very-happy", "ext": "png"}])
    importer.import_items([importer.Item("Ola.charx", data=charx(second, {"b.png": ANGER}))])
    assets = store.collection("character").get("default", "ola")["data"]["metadata"]["expression_assets"]
    base = project_dir("default")
    assert (base / assets["very happy"]["path"]).read_bytes() == JOY
    assert (base / assets["very-happy"]["path"]).read_bytes() == ANGER


_JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                            st.sampled_from(["entries", "members", "chats", "chat_id", "personas", "spec", "data",
                                             "name", "first_mes", "power_user", "messages", "mes"]), inner, max_size=4),
                        max_leaves=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300), _JSONISH.map(lambda v: json.dumps(v).encode()),
                 st.sampled_from([b"[" * 3000, b'{"entries": ' * 2000, b"\x89PNG\r\n\x1a\n", b"PK\x03\x04"])))
def test_any_bytes_give_a_kind_or_none_and_a_row_never_an_exception(data):
    kind = classify(data, "upload.json")
    assert kind in (None, "chat", "card", "world", "personas", "group")
    row = importer.import_items([importer.Item("upload.json", data=data)])["items"][0]
    assert row["status"] in ("ok", "error") and (row["status"] == "ok" or row["error"]["code"] != "internal_error")


def test_wrong_shaped_personas_and_card_files_are_errors_not_empty_imports():
    """personas_bad.json answered ok with "0 added"; card_bad.json created a character "card_bad"."""
    personas_bad = json.dumps({"personas": ["Wanderer"], "persona_descriptions": {}}).encode()
    card_bad = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": "Seraphina"}).encode()
    report = importer.import_items([importer.Item("personas_bad.json", data=personas_bad),
                                    importer.Item("card_bad.json", data=card_bad)])
    personas, card = report["items"]
    assert (personas["kind"], personas["status"], personas["error"]["code"]) == ("personas", "error",
                                                                                "unreadable_personas")
    assert personas["error"]["details"]["field"] == "personas" and "'personas' is list" in personas["error"]["message"]
    assert (card["kind"], card["status"], card["error"]["code"]) == ("card", "error", "unreadable_card")
    assert card["error"]["details"]["field"] == "data" and "'data' is str" in card["error"]["message"]
    assert store.collection("character").ids() == [] and registry.list_personas()["personas"] == []


def test_cli_overwrite_replaces_an_edited_card(library):
    card = library / "data" / "default-user" / "characters" / "default_Seraphina.png"
    assert invoke(str(card)).exit_code == 0
    characters = store.collection("character")
    record = characters.get("default", "seraphina")["data"]
    characters.replace("default", "seraphina", {**record, "personality": "Grumpy."})
    refused = invoke(str(card))
    assert refused.exit_code == 1 and "personality" in refused.output and "--overwrite" in refused.output
    assert characters.get("default", "seraphina")["data"]["personality"] == "Grumpy."
    assert invoke(str(card), "--overwrite").exit_code == 0
    assert characters.get("default", "seraphina")["data"]["personality"] == record["personality"]


def test_a_failed_card_import_removes_the_sprite_assets_it_made(monkeypatch):
    from comfyvn.sillytavern import records

    card = v3(name="Rua", assets=[{"type": "emotion", "uri": "embeded://a.png", "name": "joy", "ext": "png"}])
    original = records.Writes.put

    def failing_put(self, kind, data):
        if kind == "character":
            raise OSError(28, "No space left on device")
        return original(self, kind, data)

    monkeypatch.setattr(records.Writes, "put", failing_put)
    row = importer.import_items([importer.Item("Rua.charx", data=charx(card, {"a.png": JOY}))])["items"][0]
    assert row["status"] == "error"
    assert assets_of("default").query(type="character.expression")["total"] == 0
    previews.wait_idle()  # a thumbnail being made when the asset went is removed by the worker
    assert not list(assets_of("default").root.rglob("*.png"))
    monkeypatch.setattr(records.Writes, "put", original)
    row = importer.import_items([importer.Item("Rua.charx", data=charx(card, {"a.png": JOY}))])["items"][0]
    assert row["status"] == "ok" and assets_of("default").query(type="character.expression", tags=["rua"])["total"] == 1
