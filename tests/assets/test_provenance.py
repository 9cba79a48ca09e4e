"""comfyvn.assets.provenance: PNG chunk rewriting and audio tags, with and without mutagen."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import wave
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from comfyvn.assets import media, provenance
from comfyvn.core.errors import InvalidInput

PROV = {"source": "comfyui", "seed": 42, "workflow_id": "portrait-v1", "note": "café ☕"}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunk_list(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of each chunk, read independently of the code under test."""
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        out.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def comfyui_png(size=(64, 48)) -> bytes:
    """A PNG as ComfyUI's SaveImage writes it: tEXt ``prompt`` and ``workflow`` before the pixels."""
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}))
    info.add_text("workflow", json.dumps({"nodes": [{"id": 3}]}))
    info.add_text("Software", "ComfyUI")
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def idat(data: bytes) -> bytes:
    return b"".join(body for kind, body in chunk_list(data) if kind == b"IDAT")


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


# PNG ---------------------------------------------------------------------------------------------


def test_comfyui_chunks_are_replaced_by_ours_and_pixels_are_untouched():
    original = comfyui_png()
    embedded = provenance.embed_png(original, PROV)
    kinds = chunk_list(embedded)
    texts = [body.split(b"\0", 1)[0] for kind, body in kinds if kind in (b"tEXt", b"zTXt", b"iTXt")]
    assert texts == [b"Software", b"comfyvn"]
    ours = [i for i, (kind, body) in enumerate(kinds) if kind == b"iTXt" and body.startswith(b"comfyvn\0")]
    first_idat = next(i for i, (kind, _) in enumerate(kinds) if kind == b"IDAT")
    assert ours == [first_idat - 1]
    assert idat(embedded) == idat(original) and pixels(embedded) == pixels(original)
    body = kinds[ours[0]][1]
    assert body == b"comfyvn\0\0\0\0\0" + json.dumps(PROV, sort_keys=True, separators=(",", ":"),
                                                   ensure_ascii=False).encode("utf-8")
    assert provenance.read_png(embedded) == PROV
    with Image.open(io.BytesIO(embedded)) as image:  # Pillow agrees
        assert json.loads(image.text["comfyvn"]) == PROV and "prompt" not in image.text


def test_embedding_again_replaces_the_earlier_block():
    twice = provenance.embed_png(provenance.embed_png(comfyui_png(), PROV), {"seed": 7})
    assert provenance.read_png(twice) == {"seed": 7}
    assert sum(body.startswith(b"comfyvn\0") for kind, body in chunk_list(twice) if kind == b"iTXt") == 1


def test_compressed_and_other_text_chunk_types_are_stripped_and_read():
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", "x" * 5000, zip=True)  # zTXt
    info.add_itxt("prompt", "{}", zip=True)
    info.add_itxt("comfyvn", json.dumps({"old": True}), zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=info)
    assert provenance.read_png(buffer.getvalue()) == {"old": True}
    assert [kind for kind, _ in chunk_list(provenance.strip_png(buffer.getvalue()))] == [b"IHDR", b"IDAT", b"IEND"]
    assert provenance.read_png(provenance.embed_png(buffer.getvalue(), PROV)) == PROV


def test_insertion_goes_before_the_first_of_several_idat_chunks():
    original = comfyui_png((300, 200))
    parts = chunk_list(original)
    head = b"".join(chunk(kind, body) for kind, body in parts if kind not in (b"IDAT", b"IEND"))
    stream = idat(original)
    split = [chunk(b"IDAT", stream[i:i + 100]) for i in range(0, len(stream), 100)]
    data = original[:8] + head + b"".join(split) + chunk(b"IEND", b"")
    embedded = provenance.embed_png(data, PROV)
    kinds = [kind for kind, _ in chunk_list(embedded)]
    assert kinds.index(b"iTXt") == kinds.index(b"IDAT") - 1 and kinds.count(b"IDAT") == len(split)
    assert pixels(embedded) == pixels(original)


def test_strip_removes_provenance_and_keeps_the_rest():
    embedded = provenance.embed_png(comfyui_png(), PROV)
    stripped = provenance.strip_png(embedded)
    assert provenance.read_png(stripped) is None and pixels(stripped) == pixels(embedded)
    assert b"Software" in stripped
    assert b"Software" not in provenance.strip_png(embedded, keys=("software",))  # case-insensitive
    assert provenance.read_png(provenance.strip_png(embedded, keys=("prompt",))) == PROV


def test_read_png_without_provenance_is_none():
    assert provenance.read_png(comfyui_png()) is None


def test_bytes_after_iend_are_dropped():
    assert provenance.embed_png(comfyui_png() + b"PK\x03\x04 appended zip", PROV).endswith(b"IEND\xaeB`\x82")


def broken_pngs() -> dict[str, bytes]:
    good = comfyui_png()
    crc_at = 8 + 8 + 13  # the IHDR chunk's CRC
    bad_crc = good[:crc_at] + bytes([good[crc_at] ^ 0xFF]) + good[crc_at + 1:]
    no_iend = good[:-12]
    parts = chunk_list(good)
    no_idat = good[:8] + b"".join(chunk(kind, body) for kind, body in parts if kind != b"IDAT")
    not_ihdr_first = good[:8] + b"".join(chunk(kind, body) for kind, body in [parts[1], parts[0], *parts[2:]])
    return {"bad crc": bad_crc, "no iend": no_iend, "no idat": no_idat, "ihdr not first": not_ihdr_first,
            "signature": b"\x89PNG\r\n\x1a\x0b" + good[8:], "jpeg": b"\xff\xd8\xff\xe0", "empty": b"",
            "huge length": good[:8] + b"\xff\xff\xff\xffIHDR" + good[16:]}


@pytest.mark.parametrize("name", sorted(broken_pngs()))
def test_broken_pngs_are_invalid_input(name):
    data = broken_pngs()[name]
    for call in (lambda: provenance.embed_png(data, PROV), lambda: provenance.read_png(data),
                 lambda: provenance.strip_png(data)):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.code == "invalid_png" and caught.value.message


def test_a_bad_crc_error_names_the_chunk():
    with pytest.raises(InvalidInput, match="chunk IHDR at byte 8 has a bad CRC"):
        provenance.embed_png(broken_pngs()["bad crc"], PROV)


@pytest.mark.parametrize("value", [["a list"], "text", {"x": float("nan")}, {"x": {1, 2}}, {"x": b"bytes"}])
def test_provenance_must_be_a_json_object(value):
    with pytest.raises(InvalidInput):
        provenance.embed_png(comfyui_png(), value)


@pytest.mark.parametrize("text", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_an_unreadable_provenance_chunk_is_invalid_input(text):
    data = comfyui_png()
    damaged = data[:33] + chunk(b"tEXt", b"comfyvn\0" + text) + data[33:]
    with pytest.raises(InvalidInput) as caught:
        provenance.read_png(damaged)
    assert caught.value.code == "unreadable_provenance"


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20)
                           | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=15)


@FUZZ
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_json_object_round_trips(value):
    assert provenance.read_png(provenance.embed_png(comfyui_png((4, 4)), value)) == json.loads(json.dumps(value))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_invalid_input(data):
    for candidate in (data, provenance.SIGNATURE + data):
        for call in (lambda: provenance.embed_png(candidate, PROV), lambda: provenance.read_png(candidate),
                     lambda: provenance.strip_png(candidate)):
            with pytest.raises(InvalidInput):
                call()


@FUZZ
@given(st.data())
def test_damaged_pngs_either_embed_or_raise_invalid_input(data):
    original = comfyui_png((8, 8))
    mutated = bytearray(original)
    if data.draw(st.booleans(), label="truncate"):
        mutated = mutated[:data.draw(st.integers(0, len(original)), label="length")]
    else:
        position = data.draw(st.integers(0, len(original) - 1), label="position")
        mutated[position] = data.draw(st.integers(0, 255).filter(lambda b: b != original[position]), label="byte")
    try:
        result = provenance.embed_png(bytes(mutated), PROV)
    except InvalidInput:
        return
    assert provenance.read_png(result) == PROV


# Audio -------------------------------------------------------------------------------------------


def audio_file(tmp_path: Path, ext: str) -> Path:
    path = tmp_path / f"clip.{ext}"
    if ext == "wav":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(struct.pack("<800h", *([8000, -8000] * 400)))
        return path
    soundfile = pytest.importorskip("soundfile")
    numpy = pytest.importorskip("numpy")
    fmt, subtype, rate = {"mp3": ("MP3", "MPEG_LAYER_III", 16000), "ogg": ("OGG", "VORBIS", 16000),
                          "opus": ("OGG", "OPUS", 48000), "flac": ("FLAC", "PCM_16", 16000)}[ext]
    soundfile.write(str(path), (numpy.sin(numpy.arange(rate) / 10) * 0.5).astype("float32"), rate,
                    format=fmt, subtype=subtype)
    return path


AUDIO = ["mp3", "wav", "ogg", "opus", "flac"]


@pytest.mark.parametrize("ext", AUDIO)
def test_audio_provenance_round_trips_and_the_audio_still_plays(tmp_path, ext):
    pytest.importorskip("mutagen")
    path = audio_file(tmp_path, ext)
    path.chmod(0o640)
    before = media.waveform(path, 20) if ext == "wav" else None
    assert provenance.read_audio(path) is None
    assert provenance.embed_audio(path, PROV) == "embedded"
    assert provenance.read_audio(path) == PROV
    assert provenance.embed_audio(path, {"seed": 9}) == "embedded"
    assert provenance.read_audio(path) == {"seed": 9}
    assert media.sniff_file(path).ext == ext and (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary files left
    if ext == "wav":
        assert media.waveform(path, 20) == before
    else:
        soundfile = pytest.importorskip("soundfile")
        assert soundfile.info(str(path)).frames > 0
    assert provenance.strip_audio(path) == "stripped"
    assert provenance.read_audio(path) is None and provenance.strip_audio(path) == "absent"


def test_mp3_tag_is_an_id3_txxx_frame_and_flac_a_vorbis_comment(tmp_path):
    mutagen = pytest.importorskip("mutagen")
    mp3, flac = audio_file(tmp_path, "mp3"), audio_file(tmp_path, "flac")
    provenance.embed_audio(mp3, PROV)
    provenance.embed_audio(flac, PROV)
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3

    assert json.loads(ID3(mp3)["TXXX:comfyvn"].text[0]) == PROV
    assert json.loads(FLAC(flac)["COMFYVN"][0]) == PROV
    assert mutagen.File(mp3) is not None


@pytest.mark.parametrize("ext", AUDIO)
def test_without_mutagen_nothing_is_written(tmp_path, monkeypatch, ext):
    path = audio_file(tmp_path, ext)
    before = path.read_bytes()
    monkeypatch.setitem(sys.modules, "mutagen", None)
    assert provenance.embed_audio(path, PROV) == "skipped: mutagen not installed"
    assert provenance.strip_audio(path) == "skipped: mutagen not installed"
    assert provenance.read_audio(path) is None
    assert path.read_bytes() == before


def test_formats_without_tags_we_write_are_skipped(tmp_path):
    pytest.importorskip("mutagen")
    m4a = tmp_path / "a.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 40)
    assert provenance.embed_audio(m4a, PROV) == "skipped: m4a not supported"
    png = tmp_path / "a.png"
    png.write_bytes(comfyui_png())
    assert provenance.embed_audio(png, PROV) == "skipped: png not supported"
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    assert provenance.embed_audio(junk, PROV) == "skipped: unknown not supported"
    assert provenance.read_audio(m4a) is None


def test_a_damaged_file_is_left_as_it_was(tmp_path):
    pytest.importorskip("mutagen")
    path = tmp_path / "bad.flac"
    path.write_bytes(b"fLaC" + b"\x07" * 100)
    status = provenance.embed_audio(path, PROV)
    assert status.startswith("skipped: flac tags could not be written (")
    assert path.read_bytes() == b"fLaC" + b"\x07" * 100
    with pytest.raises(InvalidInput) as caught:
        provenance.read_audio(path)
    assert caught.value.code == "unreadable_audio"


def test_a_failure_while_saving_never_touches_the_file(tmp_path, monkeypatch):
    pytest.importorskip("mutagen")
    from mutagen import MutagenError
    from mutagen.flac import FLAC

    path = audio_file(tmp_path, "flac")
    before = path.read_bytes()

    def half_save(self, filething=None, **kwargs):
        filething.write(b"garbage")
        raise MutagenError("disk trouble")

    monkeypatch.setattr(FLAC, "save", half_save)
    assert provenance.embed_audio(path, PROV) == "skipped: flac tags could not be written (disk trouble)"
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]
