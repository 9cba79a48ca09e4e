"""The LoRA registry: registration from files, hashes, verification, search, refused paths."""

from __future__ import annotations

import hashlib
import os

import pytest

from comfyvn.characters import lora
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound


def test_register_hashes_the_file_and_verify_finds_changes(lora_file):
    entry = lora.register(path=str(lora_file), base_model="sdxl", trigger_words=["mira"], tags=["Character"])
    assert entry["created"] is True
    assert entry["name"] == "mira_style.safetensors"
    assert entry["sha256"] == hashlib.sha256(lora_file.read_bytes()).hexdigest()
    assert entry["bytes"] == lora_file.stat().st_size and entry["tags"] == ["character"]
    assert lora.index_path().is_file()
    assert [e["payload"]["name"] for e in modder_hooks.history(event="on_lora_registered")] == [entry["name"]]
    again = lora.register(path=str(lora_file), base_model="sdxl", trigger_words=["mira"], tags=["character"])
    assert again["created"] is False and again["registered_at"] == entry["registered_at"]
    assert lora.verify() == {"ok": ["mira_style.safetensors"], "mismatched": [], "missing": [], "remote": [],
                             "checked": 1}
    lora_file.write_bytes(b"changed")
    report = lora.verify()
    assert report["ok"] == [] and report["mismatched"][0]["expected"] == entry["sha256"]
    assert report["mismatched"][0]["actual"] == hashlib.sha256(b"changed").hexdigest()
    lora_file.unlink()
    assert lora.verify()["missing"] == [{"name": "mira_style.safetensors", "path": str(lora_file)}]


def test_a_given_sha_must_match_and_names_do_not_change_content_silently(lora_file, tmp_path):
    with pytest.raises(InvalidInput) as wrong:
        lora.register(path=str(lora_file), sha256="0" * 64)
    assert wrong.value.code == "lora_sha_mismatch"
    lora.register(path=str(lora_file))
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"other")
    with pytest.raises(Conflict):
        lora.register(path=str(other), name="mira_style.safetensors")
    replaced = lora.register(path=str(other), name="mira_style.safetensors", replace=True)
    assert replaced["sha256"] == hashlib.sha256(b"other").hexdigest()


@pytest.mark.parametrize("make", ["relative", "directory", "link_to_dir", "suffix", "link_suffix", "missing", "nul"])
def test_refused_paths(tmp_path, make):
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("x")
    path = {
        "relative": "models/x.safetensors",
        "directory": str(folder),
        "link_to_dir": str(tmp_path / "link.safetensors"),
        "suffix": str(text),
        "link_suffix": str(tmp_path / "sneaky.safetensors"),
        "missing": str(tmp_path / "gone.safetensors"),
        "nul": str(tmp_path / "a\x00.safetensors"),
    }[make]
    if make == "link_to_dir":
        os.symlink(folder, path)
    if make == "link_suffix":
        os.symlink(text, path)
    with pytest.raises(InvalidInput) as refused:
        lora.register(path=path)
    assert refused.value.code == "invalid_lora_file"
    assert not lora.index_path().exists()


@pytest.mark.parametrize("name", ["../x.safetensors", "/abs.safetensors", "a\\b.safetensors", "x.txt", "",
                                  "sub/../x.pt"])
def test_bad_names(name):
    with pytest.raises(InvalidInput):
        lora.register(name=name, sha256="a" * 64)


def test_register_by_name_search_get_delete():
    lora.register(name="sdxl/pixel_art.safetensors", sha256="A" * 64, base_model="SDXL", tags=["style"],
                  trigger_words=["pixel art"])
    lora.register(name="detail.pt", sha256="b" * 64, base_model="sd15", source="civitai")
    assert [e["name"] for e in lora.search()] == ["detail.pt", "sdxl/pixel_art.safetensors"]
    assert [e["name"] for e in lora.search(q="PIXEL")] == ["sdxl/pixel_art.safetensors"]
    assert [e["name"] for e in lora.search(tag="style")] == ["sdxl/pixel_art.safetensors"]
    assert [e["name"] for e in lora.search(base_model="sd15")] == ["detail.pt"]
    assert lora.get("detail.pt")["source"] == "civitai" and lora.get("detail.pt")["path"] is None
    assert lora.verify()["remote"] == ["detail.pt", "sdxl/pixel_art.safetensors"]
    lora.delete("detail.pt")
    with pytest.raises(NotFound):
        lora.get("detail.pt")
    with pytest.raises(NotFound):
        lora.delete("detail.pt")
    with pytest.raises(InvalidInput):
        lora.register(name="x.pt")  # no sha256 and no file
