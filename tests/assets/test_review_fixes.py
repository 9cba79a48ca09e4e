"""Regressions found in review: sidecars that lie about their path, name collisions, links to
outside the asset folder, ComfyUI chunks of every kind, hand edits, version semantics."""

from __future__ import annotations

import io
import json
import os
import zlib

import pytest
from PIL import Image

from comfyvn.assets import paths, previews, provenance
from comfyvn.assets.registry import registry, reset
from comfyvn.core.errors import Conflict, NotFound
from tests.assets.conftest import png
from tests.conftest import assert_envelope


def _sidecar(reg, sidecar) -> dict:
    return json.loads(paths.sidecar_of(reg.root / sidecar["path"]).read_text())


def test_a_sidecar_naming_another_path_is_skipped_and_never_written_through(reg, tmp_path):
    first, _ = reg.add_bytes(png(1), name="a.png")
    previews.wait_idle()
    side = paths.sidecar_of(reg.root / first["path"])
    data = json.loads(side.read_text())
    data["path"] = "../../../../../../../../" + str(tmp_path / "escape.png").lstrip("/")
    side.write_text(json.dumps(data))
    assert reg.rebuild_index() == 0  # skipped, with a warning
    with pytest.raises(NotFound):
        reg.update(first["uid"], add_tags=["x"])
    assert not list(tmp_path.glob("escape*"))


def test_fallback_names_never_overwrite_an_asset_or_a_user_file(reg):
    content = png(2)
    uid8 = __import__("hashlib").sha256(content).hexdigest()[:8]
    reg.add_bytes(png(3), name="a.png")  # images/a.png
    other, _ = reg.add_bytes(png(4), path=f"images/a-{uid8}.png")  # squats the first fallback
    user_file = reg.root / "images" / f"a-{uid8}-2.png"
    user_file.write_bytes(b"the user's own file")
    new, _ = reg.add_bytes(content, name="a.png")
    assert new["path"] == f"images/a-{uid8}-3.png"
    assert _sidecar(reg, other)["uid"] == other["uid"] and user_file.read_bytes() == b"the user's own file"


def test_parent_that_is_a_file_is_a_conflict_and_nothing_is_left_pending(reg):
    reg.add_bytes(png(5), path="images/a.png")
    with pytest.raises(Conflict, match="is a file"):
        reg.add_bytes(png(6), path="images/a.png/b.png")
    assert reg.index.pending() == []


def test_links_to_outside_are_not_followed(client, tmp_path):
    made = client.post("/assets/upload", files={"file": ("a.png", png(7))}).json()["asset"]
    previews.wait_idle()
    reg = registry()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"secret": true}')
    side = paths.sidecar_of(reg.root / made["path"])
    side.unlink()
    os.symlink(outside / "secret.json", side)
    assert_envelope(client.get(f"/assets/{made['uid']}/sidecar"), 404)
    folder = reg.root / paths.PREVIEWS
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()
    os.symlink(outside, folder)
    second = client.post("/assets/upload", files={"file": ("b.png", png(8))}).json()["asset"]
    previews.wait_idle()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.json"]
    assert reg.get(second["uid"])["preview"]["status"] == "failed"


def _with_chunk(data: bytes, ctype: bytes, body: bytes) -> bytes:
    chunk = len(body).to_bytes(4, "big") + ctype + body + zlib.crc32(ctype + body).to_bytes(4, "big")
    at = data.index(b"IDAT") - 4
    return data[:at] + chunk + data[at:]


@pytest.mark.parametrize("ctype, body", [
    (b"zTXt", b"workflow\x00\x00" + zlib.compress(b'{"nodes": []}')),
    (b"iTXt", b"workflow\x00\x00\x00\x00\x00{}"),
    (b"tEXt", b"Prompt\x00{}"),
])
def test_comfyui_chunks_of_every_kind_are_replaced(reg, ctype, body):
    sidecar, _ = reg.add_bytes(_with_chunk(png(9), ctype, body), name="c.png")
    stored = (reg.root / sidecar["path"]).read_bytes()
    assert not provenance.has_text(stored)
    assert provenance.read_png(stored)["asset_uid"] == sidecar["uid"]


def test_updates_keep_hand_edits_and_previews_do_not_change_the_version(reg):
    made, _ = reg.add_bytes(png(10), name="d.png")
    previews.wait_idle()
    on_disk = _sidecar(reg, made)
    assert on_disk["preview"]["status"] == "ready" and on_disk["version"] == 1  # the upload's version still holds
    on_disk["tags"] = ["edited-in-git"]
    paths.sidecar_of(reg.root / made["path"]).write_text(json.dumps(on_disk))
    updated = reg.update(made["uid"], add_tags=["x"], expected_version=1)
    assert updated["tags"] == ["edited-in-git", "x"] and updated["version"] == 2


def test_a_lost_file_comes_back_with_the_same_content(reg):
    made, _ = reg.add_bytes(png(11), name="e.png")
    (reg.root / made["path"]).unlink()
    again, created = reg.add_bytes(png(11), name="e.png")
    assert not created and (reg.root / made["path"]).read_bytes() == png(11)


def test_a_file_left_by_an_interrupted_registration_is_reused(reg):
    (reg.root / "images").mkdir(parents=True, exist_ok=True)
    (reg.root / "images" / "f.png").write_bytes(png(12))  # written, then the process died before its sidecar
    made, created = reg.add_bytes(png(12), path="images/f.png")
    assert created and made["path"] == "images/f.png"


def test_upload_over_the_limit_is_refused_from_its_declared_length(client):
    from comfyvn.config.settings import SettingsManager

    SettingsManager().save({"assets": {"max_upload_bytes": 1000}})
    image = Image.new("RGB", (300, 300))
    buffer = io.BytesIO()
    image.save(buffer, "BMP")
    big = b"\x89PNG\r\n\x1a\n" + buffer.getvalue() * 40
    assert_envelope(client.post("/assets/upload", files={"file": ("big.png", big)}), 413)
    reset()
