"""The /assets HTTP API: upload, search, read, register, update, delete, debug surfaces."""

from __future__ import annotations

import io
import json
import os
import sys
import threading

import pytest
from PIL import Image

from comfyvn.assets import paths, previews, provenance
from comfyvn.assets.registry import registry
from comfyvn.config.settings import SettingsManager
from tests.assets.conftest import comfyui_png, png, wav
from tests.conftest import assert_envelope


def upload(client, data: bytes, name: str = "file.png", **fields):
    form = {k: (json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in fields.items()}
    return client.post("/assets/upload", files={"file": (name, data, "application/octet-stream")}, data=form)


def uploaded(client, data: bytes, name: str = "file.png", **fields) -> dict:
    response = upload(client, data, name, **fields)
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True
    return response.json()["asset"]


def root():
    return registry().root


def stored_files() -> list[str]:
    """Files in the asset folder, previews aside (after the preview worker is done)."""
    assert previews.wait_idle()
    base = root()
    if not base.exists():
        return []
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and ".previews" not in p.parts)


# -- upload ------------------------------------------------------------------------------------

def test_upload_detects_type_from_content(client):
    asset = uploaded(client, png(1), "tune.mp3")
    assert asset["type"] == "image" and asset["path"].endswith(".png") and asset["meta"]["mime"] == "image/png"
    audio = uploaded(client, wav(1), "pic.png")
    assert audio["type"] == "audio" and audio["path"].endswith(".wav")


def test_upload_refuses_text_and_mismatched_type(client):
    assert_envelope(upload(client, b"just some words\n" * 10, "notes.png"), 422, "unsupported_media")
    assert_envelope(upload(client, png(2), "x.mp3", type="music"), 422, "type_mismatch")
    assert_envelope(upload(client, png(2), type="Not A Type"), 422)
    assert_envelope(client.post("/assets/upload", json={"file": "x"}), 422)
    assert_envelope(client.post("/assets/upload", data={"type": "image"}, files={"other": ("a", b"x")}), 422)
    assert_envelope(upload(client, png(2), meta="{broken"), 422)
    assert stored_files() == []


def test_upload_size_limit(client):
    data = png(3)
    SettingsManager().save({"assets": {"max_upload_bytes": len(data) - 1}})
    error = assert_envelope(upload(client, data), 413)
    assert error["details"]["limit"] == len(data) - 1
    assert stored_files() == []
    SettingsManager().save({"assets": {"max_upload_bytes": len(data)}})
    uploaded(client, data)


def test_upload_same_content_twice(client):
    first = uploaded(client, png(4), "a.png", tags="One,two")
    response = upload(client, png(4), "b.png", tags=["three"])
    assert response.status_code == 200 and response.json()["created"] is False
    assert response.json()["asset"]["uid"] == first["uid"] and first["tags"] == ["one", "two"]
    assert client.get("/assets").json()["total"] == 1
    assert len([f for f in stored_files() if not f.endswith(paths.SIDECAR_SUFFIX)]) == 1


def test_concurrent_http_uploads_of_the_same_content(client):
    data, start, answers = png(5, size=(400, 300)), threading.Barrier(6), []

    def send(n: int) -> None:
        start.wait()
        answers.append(upload(client, data, f"same{n}.png"))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["asset"]["uid"] for a in answers}) == 1
    assert client.get("/assets").json()["total"] == 1
    assert len(stored_files()) == 2  # one file, one sidecar


def test_upload_to_a_path_and_unknown_project(client):
    asset = uploaded(client, png(6), path="backgrounds/beach.png", type="background", license="CC0")
    assert asset["path"] == "backgrounds/beach.png" and asset["license"] == "CC0"
    assert (root() / "backgrounds" / "beach.png").is_file()
    assert_envelope(upload(client, png(7), path="backgrounds/beach.png"), 409)
    assert_envelope(upload(client, png(7), project="nope"), 404)


# -- path safety -------------------------------------------------------------------------------

UNSAFE = ["..", "../x.png", "a/../../x.png", "/x.png", "C:/x.png", "a\\b.png", "a\u0000b.png", ".x.png",
          "a/.git/x.png", "x.png.asset.json"]


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_paths_answer_400(client, bad, tmp_path):
    assert_envelope(upload(client, png(8), path=bad), 400, "unsafe_path")
    assert_envelope(client.post("/assets/register", json={"path": bad}), 400, "unsafe_path")
    assert stored_files() == []
    assert not (tmp_path / "x.png").exists() and not (root().parent / "x.png").exists()


def test_symlinks_answer_400(client, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png(9))
    client.get("/assets")  # creates the default project
    root().mkdir(parents=True, exist_ok=True)
    os.symlink(outside / "secret.png", root() / "link.png")
    os.symlink(outside, root() / "folder")
    os.symlink(outside / "planted.png", root() / "dangling.png")
    for rel in ("link.png", "folder/secret.png"):
        assert_envelope(client.post("/assets/register", json={"path": rel}), 400, "unsafe_path")
    for rel in ("folder/planted.png", "dangling.png"):
        assert_envelope(upload(client, png(10), path=rel), 400, "unsafe_path")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]
    assert client.get("/assets").json()["total"] == 0


# -- search ------------------------------------------------------------------------------------

@pytest.fixture
def catalogue(client):
    """Six assets with tags and meta to search."""
    specs = [(png(20), "sera_happy.png", {"type": "character.sprite", "tags": ["Sera", "happy"],
                                          "meta": {"character": "Sera"}}),
             (png(21), "sera_sad.png", {"type": "character.sprite", "tags": ["sera", "sad"],
                                        "meta": {"character": "Sera", "note": "100% sad"}}),
             (png(22), "beach.png", {"type": "background", "tags": ["day", "happy"]}),
             (png(23), "night_beach.png", {"type": "background", "tags": ["night"], "meta": {"note": "100 done"}}),
             (wav(24), "theme.wav", {"type": "music", "tags": ["happy"]}),
             (wav(25), "door.wav", {"type": "sfx", "tags": ["door"], "meta": {"note": "a_b"}})]
    return {name: uploaded(client, data, name, **fields) for data, name, fields in specs}


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["path"].rsplit("/", 1)[-1] for item in response.json()["items"])


def test_filters(client, catalogue):
    assert names(client.get("/assets", params={"type": "background"})) == ["beach.png", "night_beach.png"]
    assert names(client.get("/assets", params={"hash": catalogue["door.wav"]["hash"].upper()})) == ["door.wav"]
    assert names(client.get("/assets", params={"tags": "happy,SERA"})) == ["sera_happy.png"]
    assert names(client.get("/assets", params=[("tag", "happy"), ("tag", "day")])) == ["beach.png"]
    assert names(client.get("/assets", params=[("tags", "happy"), ("tag", "sera")])) == ["sera_happy.png"]
    assert names(client.get("/assets", params={"tags": "happy", "type": "music"})) == ["theme.wav"]
    assert names(client.get("/assets", params={"tags": "happy,nothing"})) == []
    assert names(client.get("/assets", params={"q": "BEACH"})) == ["beach.png", "night_beach.png"]
    assert names(client.get("/assets", params={"q": "sera"})) == ["sera_happy.png", "sera_sad.png"]


def test_q_matches_meta_values(client, catalogue):
    uid = catalogue["beach.png"]["uid"]
    assert client.patch(f"/assets/{uid}", json={"meta": {"character": "Sera"}}).status_code == 200
    assert names(client.get("/assets", params={"q": "SERA", "type": "background"})) == ["beach.png"]


def test_q_wildcards_are_literal(client, catalogue):
    assert names(client.get("/assets", params={"q": "100%"})) == ["sera_sad.png"]
    assert names(client.get("/assets", params={"q": "a_b"})) == ["door.wav"]
    assert names(client.get("/assets", params={"q": "%"})) == ["sera_sad.png"]
    assert names(client.get("/assets", params={"q": "_"})) != names(client.get("/assets"))


def test_paging(client, catalogue):
    pages = [client.get("/assets", params={"limit": 4, "offset": offset}).json() for offset in (0, 4, 8)]
    assert [p["total"] for p in pages] == [6, 6, 6]
    assert [len(p["items"]) for p in pages] == [4, 2, 0]
    paths_seen = [item["path"] for page in pages for item in page["items"]]
    assert paths_seen == sorted(paths_seen) and len(set(paths_seen)) == 6
    assert_envelope(client.get("/assets", params={"limit": 0}), 422)
    assert_envelope(client.get("/assets", params={"offset": -1}), 422)
    assert_envelope(client.get("/assets", params={"limit": 100000}), 422)


# -- reading -----------------------------------------------------------------------------------

def test_get_download_sidecar(client):
    asset = uploaded(client, wav(30), "line.wav", type="voice")
    got = client.get(f"/assets/{asset['uid']}")
    assert got.status_code == 200 and got.json()["uid"] == asset["uid"]
    download = client.get(f"/assets/{asset['uid']}/download")
    assert download.status_code == 200 and download.content == wav(30)
    assert download.headers["content-type"].startswith("audio/wav")
    sidecar = client.get(f"/assets/{asset['uid']}/sidecar")
    assert sidecar.status_code == 200 and sidecar.headers["content-type"].startswith("application/json")
    assert sidecar.content == paths.sidecar_of(root() / asset["path"]).read_bytes()
    previews.wait_idle()
    assert client.get(f"/assets/{asset['uid']}/sidecar").json() == client.get(f"/assets/{asset['uid']}").json()
    for suffix in ("", "/download", "/sidecar", "/thumbnail"):
        assert_envelope(client.get(f"/assets/{'0' * 24}{suffix}"), 404)


def test_download_of_a_missing_file(client):
    asset = uploaded(client, png(31))
    (root() / asset["path"]).unlink()
    assert_envelope(client.get(f"/assets/{asset['uid']}/download"), 404)


def test_thumbnails(client):
    SettingsManager().save({"assets": {"previews": "off"}})
    asset = uploaded(client, png(32, size=(1000, 400)))
    assert_envelope(client.get(f"/assets/{asset['uid']}/thumbnail"), 404)
    SettingsManager().save({"assets": {"previews": "background"}})
    registry().open()
    from comfyvn.assets.registry import reset

    reset()
    client.get("/assets")  # reopening catches up on pending previews
    assert previews.wait_idle()
    for size in (256, 512):
        response = client.get(f"/assets/{asset['uid']}/thumbnail", params={"size": size})
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == "PNG" and max(image.size) <= size
    assert_envelope(client.get(f"/assets/{asset['uid']}/thumbnail", params={"size": 128}), 404)
    assert_envelope(client.get(f"/assets/{asset['uid']}/thumbnail", params={"size": "big"}), 422)


# -- register ----------------------------------------------------------------------------------

def test_register(client):
    client.get("/assets")
    (root() / "cg").mkdir(parents=True)
    (root() / "cg" / "kiss.png").write_bytes(png(40))
    response = client.post("/assets/register", json={"path": "cg/kiss.png", "type": "cg", "tags": ["Love"]})
    assert response.status_code == 201 and response.json()["created"] is True
    asset = response.json()["asset"]
    assert asset["path"] == "cg/kiss.png" and asset["tags"] == ["love"]
    (root() / "cg" / "copy.png").write_bytes(png(40))
    again = client.post("/assets/register", json={"path": "cg/copy.png"})
    assert again.status_code == 200 and again.json()["asset"]["uid"] == asset["uid"]
    assert_envelope(client.post("/assets/register", json={"path": "cg/none.png"}), 404)
    assert_envelope(client.post("/assets/register", json={"path": "cg/kiss.png", "bogus": 1}), 422)


# -- updates -----------------------------------------------------------------------------------

def test_patch(client):
    SettingsManager().save({"assets": {"previews": "off"}})
    asset = uploaded(client, png(50), tags=["b"], meta={"character": "Sera", "mood": "calm"})
    uid, version = asset["uid"], asset["version"]
    one = client.patch(f"/assets/{uid}", json={"tags": ["Zed", " alpha", "ALPHA"]}).json()
    assert one["tags"] == ["alpha", "zed"] and one["version"] == version + 1
    two = client.patch(f"/assets/{uid}", json={"add_tags": ["Mid"], "remove_tags": ["zed"]}).json()
    assert two["tags"] == ["alpha", "mid"]
    three = client.patch(f"/assets/{uid}", json={"license": "CC-BY-4.0", "meta": {"mood": None, "pose": "up"}})
    assert three.json()["license"] == "CC-BY-4.0" and three.json()["meta"] == {
        "character": "Sera", "mime": "image/png", "pose": "up"}
    kept = client.patch(f"/assets/{uid}", json={"add_tags": ["z"]}).json()
    assert kept["license"] == "CC-BY-4.0"  # leaving license out keeps it
    cleared = client.patch(f"/assets/{uid}", json={"license": None}).json()
    assert cleared["license"] is None and cleared["version"] == version + 5
    error = assert_envelope(client.patch(f"/assets/{uid}", json={"tags": ["q"], "expected_version": version}), 409)
    assert error["details"]["version"] == version + 5
    ok = client.patch(f"/assets/{uid}", json={"tags": ["q"], "expected_version": version + 5})
    assert ok.status_code == 200 and ok.json()["version"] == version + 6
    assert_envelope(client.patch(f"/assets/{uid}", json={"tags": "a,b"}), 422)
    assert_envelope(client.patch(f"/assets/{uid}", json={"meta": {"mime": "text/html"}}), 422)
    assert_envelope(client.patch(f"/assets/{uid}", json={"unknown": 1}), 422)
    assert_envelope(client.patch(f"/assets/{'f' * 24}", json={"tags": []}), 404)
    assert client.get(f"/assets/{uid}/sidecar").json() == client.get(f"/assets/{uid}").json()


def test_bulk_is_all_or_none(client, catalogue):
    uids = [a["uid"] for a in catalogue.values()]
    previews.wait_idle()
    before = client.get("/assets", params={"limit": 50}).json()
    assert_envelope(client.post("/assets/bulk", json={"uids": [*uids, "0" * 24], "add_tags": ["x"]}), 404)
    assert client.get("/assets", params={"limit": 50}).json() == before
    assert_envelope(client.post("/assets/bulk", json={"uids": [], "add_tags": ["x"]}), 422)
    done = client.post("/assets/bulk", json={"uids": uids[:3], "add_tags": ["Batch"], "license": "CC0"})
    assert done.status_code == 200 and all(i["license"] == "CC0" for i in done.json()["items"])
    assert client.get("/assets", params={"tag": "batch"}).json()["total"] == 3


# -- delete ------------------------------------------------------------------------------------

def test_delete(client):
    asset = uploaded(client, png(60), path="cg/a.png")
    previews.wait_idle()
    thumbs = list((root() / paths.PREVIEWS).glob(f"{asset['uid']}.*"))
    assert thumbs
    response = client.delete(f"/assets/{asset['uid']}")
    assert response.status_code == 200 and response.json()["deleted"]["uid"] == asset["uid"]
    assert not (root() / "cg" / "a.png").exists() and not paths.sidecar_of(root() / "cg" / "a.png").exists()
    assert not any(p.exists() for p in thumbs)
    assert_envelope(client.get(f"/assets/{asset['uid']}"), 404)
    assert_envelope(client.delete(f"/assets/{asset['uid']}"), 404)
    kept = uploaded(client, png(61), path="cg/b.png")
    assert client.delete(f"/assets/{kept['uid']}", params={"keep_file": "true"}).status_code == 200
    assert (root() / "cg" / "b.png").read_bytes() == png(61)
    assert not paths.sidecar_of(root() / "cg" / "b.png").exists()


def test_rebuild_endpoint(client, catalogue):
    before = client.get("/assets", params={"limit": 50}).json()
    answer = client.post("/assets/rebuild")
    assert answer.status_code == 200 and answer.json()["assets"] == 6
    assert client.get("/assets", params={"limit": 50}).json()["total"] == before["total"]


# -- provenance --------------------------------------------------------------------------------

def test_upload_comfyui_png_with_provenance(client):
    block = {"tool": "comfyui", "workflow_id": "wf-9", "seed": 11, "loras": ["a"]}
    asset = uploaded(client, comfyui_png(70), "ComfyUI_00001_.png", provenance=block)
    stored = client.get(f"/assets/{asset['uid']}/download").content
    found = provenance.read_png(stored)
    assert found is not None and found["workflow_id"] == "wf-9" and found["seed"] == 11
    assert b"tEXtprompt" not in stored and b"tEXtworkflow" not in stored
    assert asset["provenance"] == block


def test_upload_wav_provenance(client, monkeypatch):
    pytest.importorskip("mutagen")
    asset = uploaded(client, wav(71), "line.wav", type="voice", provenance={"tool": "tts", "seed": 1})
    assert provenance.read_audio(root() / asset["path"])["tool"] == "tts"
    monkeypatch.setitem(sys.modules, "mutagen", None)
    bare = uploaded(client, wav(72), "line2.wav", type="voice", provenance={"tool": "tts"})
    assert bare["notes"] and "mutagen" in " ".join(bare["notes"])


# -- hooks and debug surfaces -----------------------------------------------------------------

def test_debug_surfaces(client):
    calls = []
    registry().add_hook("asset_removed", calls.append)
    asset = uploaded(client, png(80))
    client.delete(f"/assets/{asset['uid']}")
    assert len(calls) == 1 and calls[0]["uid"] == asset["uid"]
    hooks = client.get("/assets/debug/hooks").json()
    assert len(hooks["hooks"]["asset_removed"]) == 1
    assert hooks["bridged"]["asset_registered"] == ["on_asset_registered", "on_asset_saved"]
    events = {e["name"]: e for e in client.get("/assets/debug/modder-hooks").json()["events"]}
    assert set(events) >= {"on_asset_registered", "on_asset_saved", "on_asset_meta_updated", "on_asset_removed",
                           "on_asset_sidecar_written"}
    assert set(events["on_asset_removed"]["fields"]) >= {"uid", "type", "path", "sidecar", "meta", "hook_event",
                                                         "timestamp"}
    history = [e["event"] for e in client.get("/assets/debug/history").json()["events"]]
    assert history[:2] == ["on_asset_registered", "on_asset_saved"] and "on_asset_removed" in history
    assert client.get("/assets/debug/history", params={"limit": 1}).json()["events"][-1]["event"] == history[-1]


def test_thumbnail_file_missing_on_disk(client):
    asset = uploaded(client, png(90))
    assert previews.wait_idle()
    for path in (root() / paths.PREVIEWS).glob(f"{asset['uid']}.*"):
        path.unlink()
    assert_envelope(client.get(f"/assets/{asset['uid']}/thumbnail"), 404)


@pytest.mark.parametrize("project", ["../x", "a b", ".hidden"])
def test_bad_project_ids(client, project):
    assert client.get("/assets", params={"project": project}).status_code in (400, 422)
    assert upload(client, png(91), project=project).status_code in (400, 422)
    assert stored_files() == []
