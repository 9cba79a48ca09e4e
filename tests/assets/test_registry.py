"""AssetRegistry through its Python API: registration, dedup, updates, removal, path safety,
hooks, provenance and previews."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from comfyvn.assets import paths, previews, provenance
from comfyvn.assets.registry import HOOK_EVENTS, AssetRegistry, registry, reset
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.core.errors import BadRequest, Conflict, InvalidInput, NotFound, PayloadTooLarge
from tests.assets.conftest import comfyui_png, png, wav

PROV = {"tool": "comfyui", "seed": 7, "workflow_id": "portrait-v1", "prompt_id": "p-1"}


def previews_off() -> None:
    SettingsManager().save({"assets": {"previews": "off"}})


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def sidecar_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*" + paths.SIDECAR_SUFFIX))


# -- registration -----------------------------------------------------------------------------

def test_type_comes_from_content_not_name(reg):
    sidecar, created = reg.add_bytes(png(1), name="song.mp3")
    assert created and sidecar["type"] == "image"
    assert sidecar["path"].endswith(".png") and sidecar["meta"]["mime"] == "image/png"
    assert (reg.root / sidecar["path"]).read_bytes() == png(1)
    on_disk = json.loads(paths.sidecar_of(reg.root / sidecar["path"]).read_text())
    assert on_disk == reg.get(sidecar["uid"])
    audio, _ = reg.add_bytes(wav(1), name="picture.png")
    assert audio["type"] == "audio" and audio["path"].endswith(".wav")


def test_text_is_unsupported_and_kind_mismatch_refused(reg):
    with pytest.raises(InvalidInput) as info:
        reg.add_bytes(b"hello, this is plain text\n" * 4, name="x.png")
    assert info.value.code == "unsupported_media"
    with pytest.raises(InvalidInput) as info:
        reg.add_bytes(png(2), name="x.mp3", type="music")
    assert info.value.code == "type_mismatch"
    with pytest.raises(InvalidInput) as info:
        reg.add_bytes(wav(2), type="background")
    assert info.value.code == "type_mismatch"
    assert reg.query()["total"] == 0 and sidecar_files(reg.root) == []


def test_size_limit(reg):
    data = png(3)
    with pytest.raises(PayloadTooLarge):
        reg.add_bytes(data, max_bytes=len(data) - 1)
    assert reg.add_bytes(data, max_bytes=len(data))[1] is True


def test_sniffed_mime_cannot_be_overridden_by_meta(reg):
    sidecar, _ = reg.add_bytes(wav(4), type="voice.line", meta={"mime": "image/png", "speaker": "Sera"})
    assert sidecar["meta"] == {"mime": "audio/wav", "speaker": "Sera"}
    with pytest.raises(InvalidInput):
        reg.update(sidecar["uid"], meta={"mime": "text/html"})
    with pytest.raises(InvalidInput):
        reg.update(sidecar["uid"], meta={"mime": None})
    assert reg.get(sidecar["uid"])["meta"]["mime"] == "audio/wav"


def test_same_content_twice_is_one_asset(reg):
    first, created = reg.add_bytes(png(5), name="a.png", tags=["X"])
    again, created_again = reg.add_bytes(png(5), name="b.png", tags=["other"])
    assert created and not created_again
    assert again["uid"] == first["uid"] and again["path"] == first["path"]
    assert len(sidecar_files(reg.root)) == 1 and reg.query()["total"] == 1


def test_add_many_dedups_within_the_batch(reg):
    results = reg.add_many([{"data": png(6), "name": "a.png"}, {"data": png(6), "name": "b.png"},
                            {"data": png(7), "name": "a.png"}])
    assert [created for _, created in results] == [True, False, True]
    assert results[0][0]["uid"] == results[1][0]["uid"]
    assert len({s["path"] for s, _ in results}) == 2 and reg.query()["total"] == 2


@pytest.mark.parametrize("shared", [True, False], ids=["one-registry", "registry-per-thread"])
def test_concurrent_uploads_of_the_same_content(reg, shared):
    data, start, results, errors = png(8, size=(300, 200)), threading.Barrier(8), [], []

    def upload(n: int) -> None:
        target = reg if shared else AssetRegistry("default")
        start.wait()
        try:
            results.append(target.add_bytes(data, name=f"same-{n}.png"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({s["uid"] for s, _ in results}) == 1
    stored = [p for p in reg.root.rglob("*.png") if paths.PREVIEWS not in p.parts]
    assert len(stored) == 1 and len(sidecar_files(reg.root)) == 1 and reg.query()["total"] == 1


def test_upload_into_a_taken_path_conflicts(reg):
    reg.add_bytes(png(9), path="bg/beach.png")
    with pytest.raises(Conflict):
        reg.add_bytes(png(10), path="bg/beach.png")
    (reg.root / "bg" / "free.png").write_bytes(png(11))  # an unregistered file is not overwritten
    with pytest.raises(Conflict):
        reg.add_bytes(png(12), path="bg/free.png")
    assert (reg.root / "bg" / "free.png").read_bytes() == png(11)


def test_register_existing_file(reg):
    (reg.root / "backgrounds").mkdir(parents=True)
    (reg.root / "backgrounds" / "beach.png").write_bytes(png(13))
    sidecar, created = reg.register("backgrounds/beach.png", type="background", tags=["Sea", "day "])
    assert created and sidecar["path"] == "backgrounds/beach.png" and sidecar["origin"] == "file"
    assert sidecar["tags"] == ["day", "sea"]
    assert paths.sidecar_of(reg.root / "backgrounds" / "beach.png").is_file()
    again, created = reg.register("backgrounds/beach.png")
    assert not created and again["uid"] == sidecar["uid"]
    (reg.root / "backgrounds" / "copy.png").write_bytes(png(13))
    copy, created = reg.register("backgrounds/copy.png")
    assert not created and copy["uid"] == sidecar["uid"]
    assert not paths.sidecar_of(reg.root / "backgrounds" / "copy.png").exists()
    with pytest.raises(NotFound):
        reg.register("backgrounds/missing.png")
    with pytest.raises(NotFound):
        reg.register("backgrounds")  # a folder is not a file


def test_register_changed_file_conflicts(reg):
    sidecar, _ = reg.add_bytes(png(14), path="bg/a.png")
    (reg.root / "bg" / "a.png").write_bytes(png(15))
    with pytest.raises(Conflict):
        reg.register("bg/a.png")
    assert reg.get(sidecar["uid"])["path"] == "bg/a.png"


# -- updates and removal ------------------------------------------------------------------------

def test_update_tags_license_meta_and_versions(reg):
    uid = reg.add_bytes(png(16), tags=["b"], meta={"character": "Sera", "mood": "calm"})[0]["uid"]
    previews.wait_idle()
    start = reg.get(uid)["version"]
    one = reg.update(uid, tags=[" Zed", "alpha", "ALPHA"])
    assert one["tags"] == ["alpha", "zed"] and one["version"] == start + 1
    two = reg.update(uid, add_tags=["Mid"], remove_tags=["ZED"])
    assert two["tags"] == ["alpha", "mid"] and two["version"] == start + 2
    three = reg.update(uid, license="CC-BY-4.0", meta={"mood": None, "pose": "sitting"})
    assert three["license"] == "CC-BY-4.0"
    assert three["meta"] == {"character": "Sera", "mime": "image/png", "pose": "sitting"}
    four = reg.update(uid, license=None)
    assert four["license"] is None and four["meta"] == three["meta"] and four["version"] == start + 4
    assert reg.update(uid, tags=["alpha", "mid"])["version"] == start + 4  # no change, no new version
    on_disk = json.loads(paths.sidecar_of(reg.root / four["path"]).read_text())
    assert on_disk == reg.get(uid) == four


def test_update_expected_version(reg):
    uid = reg.add_bytes(png(17))[0]["uid"]
    previews.wait_idle()
    version = reg.get(uid)["version"]
    with pytest.raises(Conflict):
        reg.update(uid, tags=["x"], expected_version=version + 1)
    assert reg.get(uid)["tags"] == []
    assert reg.update(uid, tags=["x"], expected_version=version)["version"] == version + 1


def test_update_many_is_all_or_none(reg):
    uids = [reg.add_bytes(png(20 + n))[0]["uid"] for n in range(3)]
    previews.wait_idle()
    before = [reg.get(u) for u in uids]
    with pytest.raises(NotFound):
        reg.update_many([*uids, "0" * 24], add_tags=["batch"])
    assert [reg.get(u) for u in uids] == before
    with pytest.raises(InvalidInput):
        reg.update_many(uids, add_tags=["ok", ""])
    assert [reg.get(u) for u in uids] == before
    after = reg.update_many(uids, add_tags=["Batch"])
    assert [s["tags"] for s in after] == [["batch"]] * 3
    assert reg.query(tags=["batch"])["total"] == 3


@pytest.mark.parametrize("bad", [{"tags": "a,b"}, {"tags": [1]}, {"tags": ["x" * 65]}, {"license": 5},
                                 {"meta": ["x"]}, {"meta": {"x": object()}}, {"tags": [f"t{i}" for i in range(65)]}])
def test_update_rejects_bad_values(reg, bad):
    uid = reg.add_bytes(png(25))[0]["uid"]
    with pytest.raises(InvalidInput):
        reg.update(uid, **bad)


def test_remove(reg):
    sidecar, _ = reg.add_bytes(png(26), path="cg/one.png")
    previews.wait_idle()
    thumbs = list((reg.root / paths.PREVIEWS).glob(f"{sidecar['uid']}.*"))
    assert len(thumbs) == 2
    removed = reg.remove(sidecar["uid"])
    assert removed["uid"] == sidecar["uid"]
    assert not (reg.root / "cg" / "one.png").exists() and not paths.sidecar_of(reg.root / "cg" / "one.png").exists()
    assert not any(p.exists() for p in thumbs)
    with pytest.raises(NotFound):
        reg.get(sidecar["uid"])
    with pytest.raises(NotFound):
        reg.remove(sidecar["uid"])
    kept, _ = reg.add_bytes(png(27), path="cg/two.png")
    reg.remove(kept["uid"], keep_file=True)
    assert (reg.root / "cg" / "two.png").read_bytes() == png(27)
    assert not paths.sidecar_of(reg.root / "cg" / "two.png").exists()
    assert reg.query()["total"] == 0


def test_remove_right_after_upload_leaves_no_previews(reg):
    """The preview worker may still be busy with the asset when it is deleted."""
    for n in range(15):
        sidecar, _ = reg.add_bytes(png(100 + n, size=(900, 700)))
        reg.remove(sidecar["uid"])
    assert previews.wait_idle()
    folder = reg.root / paths.PREVIEWS
    assert not folder.exists() or list(folder.iterdir()) == []


# -- path safety -------------------------------------------------------------------------------

BAD_PATHS = ["..", "../x.png", "a/../../x.png", "/x.png", "/etc/passwd", "C:/x.png", "c:x.png",
             "a\\b.png", "..\\x.png", "a\u0000b.png", ".x.png", "a/.hidden/b.png", ".previews/x.png",
             "a/b.png.asset.json", "con.png", "a/b?.png", "x.png "]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_unsafe_paths_refused(reg, bad):
    with pytest.raises(BadRequest) as info:
        reg.add_bytes(png(30), path=bad)
    assert info.value.code == "unsafe_path"
    with pytest.raises(BadRequest):
        reg.register(bad)
    assert sidecar_files(reg.root) == [] and reg.query()["total"] == 0


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.png").write_bytes(png(31))
    return folder


def test_symlinks_refused(reg, outside):
    reg.root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside / "secret.png", reg.root / "link.png")
    os.symlink(outside, reg.root / "linked", target_is_directory=True)
    os.symlink(outside / "new.png", reg.root / "dangling.png")
    for rel in ("link.png", "linked/secret.png"):
        with pytest.raises(BadRequest) as info:
            reg.register(rel)
        assert info.value.code == "unsafe_path"
    for rel in ("linked/new.png", "dangling.png", "link.png"):
        with pytest.raises(BadRequest) as info:
            reg.add_bytes(png(32), path=rel)
        assert info.value.code == "unsafe_path"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]
    assert (outside / "secret.png").read_bytes() == png(31)
    assert sidecar_files(reg.root) == [] and reg.query()["total"] == 0


# -- hooks -------------------------------------------------------------------------------------

PAYLOAD = {"project", "uid", "type", "path", "sidecar", "meta", "hook_event", "timestamp"}


def test_hooks_and_modder_bus(reg):
    previews_off()
    seen, bus = [], []
    for event in HOOK_EVENTS:
        reg.add_hook(event, seen.append)
    modder_hooks.subscribe("on_asset_*", bus.append)
    sidecar, _ = reg.add_bytes(png(40), meta={"character": "Sera"})
    reg.add_bytes(png(40))  # a duplicate registers nothing
    reg.update(sidecar["uid"], add_tags=["x"])
    reg.remove(sidecar["uid"])
    assert [p["hook_event"] for p in seen] == ["asset_registered", "asset_sidecar_written", "asset_sidecar_written",
                                               "asset_meta_updated", "asset_removed"]
    for payload in seen:
        assert PAYLOAD <= set(payload)
        assert payload["uid"] == sidecar["uid"] and payload["type"] == "image" and payload["path"] == sidecar["path"]
        assert payload["meta"]["character"] == "Sera" and payload["sidecar"]["uid"] == sidecar["uid"]
        assert isinstance(payload["timestamp"], float)
    assert seen[1]["sidecar"]["version"] == 1  # the registration's sidecar
    assert seen[2]["sidecar"]["tags"] == ["x"] and seen[2]["sidecar"]["version"] == 2
    assert [e["event"] for e in bus] == ["on_asset_registered", "on_asset_saved", "on_asset_sidecar_written",
                                         "on_asset_sidecar_written", "on_asset_meta_updated", "on_asset_removed"]
    assert all(PAYLOAD <= set(e["payload"]) for e in bus)


def test_raising_hook_does_not_break_the_write(reg):
    previews_off()

    def boom(payload):
        raise RuntimeError("listener bug")

    for event in HOOK_EVENTS:
        reg.add_hook(event, boom)
    modder_hooks.subscribe("on_asset_registered", boom)
    sidecar, created = reg.add_bytes(png(41))
    assert created and reg.update(sidecar["uid"], tags=["t"])["tags"] == ["t"]
    reg.remove(sidecar["uid"])
    assert reg.query()["total"] == 0 and sidecar_files(reg.root) == []


def test_hook_registration(reg):
    with pytest.raises(InvalidInput):
        reg.add_hook("asset_saved", print)
    calls = []
    remove = reg.add_hook("asset_registered", calls.append)
    assert "asset_registered" in reg.hooks() and len(reg.hooks()["asset_registered"]) == 1
    remove()
    remove()
    reg.add_bytes(png(42))
    assert calls == [] and reg.hooks()["asset_registered"] == []


# -- provenance --------------------------------------------------------------------------------

def test_comfyui_png_gets_our_provenance(reg):
    source = comfyui_png(43)
    assert provenance.read_png(source) is None
    sidecar, _ = reg.add_bytes(source, name="ComfyUI_0001.png", provenance=PROV, type="character.portrait")
    stored = (reg.root / sidecar["path"]).read_bytes()
    block = provenance.read_png(stored)
    assert block is not None and block["seed"] == 7 and block["asset_uid"] == sidecar["uid"]
    assert b"tEXtprompt" not in stored and b"tEXtworkflow" not in stored
    assert sidecar["provenance"] == PROV and sidecar["hash"] != sidecar["uid"]
    assert sidecar["bytes"] == len(stored)
    import hashlib

    assert sidecar["hash"] == hashlib.sha256(stored).hexdigest()
    assert reg.add_bytes(source)[0]["uid"] == sidecar["uid"]  # the original content is the same asset
    assert reg.add_bytes(stored)[0]["uid"] == sidecar["uid"]  # and so is the stored file


def test_comfyui_chunks_removed_without_provenance(reg):
    sidecar, _ = reg.add_bytes(comfyui_png(44))
    stored = (reg.root / sidecar["path"]).read_bytes()
    assert b"tEXtprompt" not in stored and b"tEXtworkflow" not in stored


def test_wav_provenance_with_mutagen(reg):
    pytest.importorskip("mutagen")
    sidecar, _ = reg.add_bytes(wav(45), type="voice", provenance=PROV)
    block = provenance.read_audio(reg.root / sidecar["path"])
    assert block is not None and block["workflow_id"] == "portrait-v1"
    assert "notes" not in sidecar


def test_wav_provenance_without_mutagen(reg, monkeypatch):
    monkeypatch.setitem(sys.modules, "mutagen", None)
    for name in [n for n in sys.modules if n.startswith("mutagen.")]:
        monkeypatch.setitem(sys.modules, name, None)
    sidecar, created = reg.add_bytes(wav(46), type="music", provenance=PROV)
    assert created and sidecar["provenance"] == PROV
    assert any("skipped" in note or "mutagen" in note for note in sidecar["notes"]), sidecar["notes"]
    assert (reg.root / sidecar["path"]).read_bytes() == wav(46)
    on_disk = json.loads(paths.sidecar_of(reg.root / sidecar["path"]).read_text())
    assert on_disk["notes"] == sidecar["notes"]


# -- previews ----------------------------------------------------------------------------------

def test_image_previews(reg):
    sidecar, _ = reg.add_bytes(png(50, size=(1200, 600)))
    assert sidecar["preview"] == {"status": "pending"}
    assert previews.wait_idle()
    preview = reg.get(sidecar["uid"])["preview"]
    assert preview["status"] == "ready" and preview["width"] == 1200 and preview["height"] == 600
    assert set(preview["thumbnails"]) == {"256", "512"}
    assert all((reg.root / rel).is_file() for rel in preview["thumbnails"].values())
    assert json.loads(paths.sidecar_of(reg.root / sidecar["path"]).read_text())["preview"] == preview


def test_audio_waveform(reg):
    sidecar, _ = reg.add_bytes(wav(51, frames=8000), type="sfx")
    assert previews.wait_idle()
    preview = reg.get(sidecar["uid"])["preview"]
    assert preview["status"] == "ready" and preview["duration_sec"] == pytest.approx(1.0)
    data = json.loads((reg.root / preview["waveform"]).read_text())
    assert data["points"] and max(data["points"]) > 0


def test_previews_off_then_catch_up(reg):
    previews_off()
    uid = reg.add_bytes(png(52))[0]["uid"]
    assert previews.wait_idle()
    assert reg.get(uid)["preview"] == {"status": "pending"}
    assert not (reg.root / paths.PREVIEWS).exists()
    SettingsManager().save({"assets": {"previews": "background"}})
    reset()
    again = registry().open()
    assert previews.wait_idle()
    assert again.get(uid)["preview"]["status"] == "ready"


def test_broken_image_preview_fails_cleanly(reg):
    data = png(53)
    sidecar, _ = reg.add_bytes(data[:60] + b"\x00" * 40)  # a PNG head with garbage after it
    assert previews.wait_idle()
    assert reg.get(sidecar["uid"])["preview"]["status"] == "failed"


def test_content_whose_sidecar_was_deleted_by_hand_registers_again(reg):
    first, _ = reg.add_bytes(png(41), name="a.png")
    previews.wait_idle()
    paths.sidecar_of(reg.root / first["path"]).unlink()  # the index still has the row
    again, created = reg.register(first["path"])
    assert created and again["uid"] == first["uid"]
    assert paths.sidecar_of(reg.root / first["path"]).is_file()


def test_untyped_files_go_to_images_and_audio_folders(reg):
    assert reg.add_bytes(png(42), name="x.png")[0]["path"].startswith("images/")
    assert reg.add_bytes(wav(43), name="y.wav")[0]["path"].startswith("audio/")
