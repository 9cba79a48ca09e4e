"""comfyvn.assets.media: sniffing from content, thumbnails, image facts, waveforms."""

from __future__ import annotations

import io
import json
import struct
import sys
import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

from comfyvn.assets import media
from comfyvn.core.errors import InvalidInput

# Builders ----------------------------------------------------------------------------------------


def image_bytes(fmt: str, mode: str = "RGB", size=(40, 20), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, fmt, **save)
    return buffer.getvalue()


def wav_bytes(frames: bytes, *, bits: int, channels: int = 1, rate: int = 8000, tag: int = 1,
              extensible: bool = False, data_size: int | None = None, extra: bytes = b"") -> bytes:
    """A WAV file written by hand (the stdlib ``wave`` module only writes integer PCM)."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits)
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_*
        fmt += struct.pack("<HHIH", 22, bits, 0, tag) + guid_tail
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(frames) if data_size is None else data_size) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def stdlib_wav(path: Path, samples: list[int], *, width: int = 2, channels: int = 1, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        if width == 1:
            out.writeframes(bytes(samples))
        else:
            out.writeframes(b"".join(v.to_bytes(width, "little", signed=True) for v in samples))
    return path


ID3_HEAD = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # ID3v2.4, empty tag
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 60  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
ADTS_FRAME = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 20
M4A_HEAD = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom\x00\x00\x00\x00"


def soundfile_bytes(fmt: str, subtype: str, rate: int = 16000) -> bytes:
    soundfile = pytest.importorskip("soundfile")
    numpy = pytest.importorskip("numpy")
    buffer = io.BytesIO()
    soundfile.write(buffer, (numpy.sin(numpy.arange(rate) / 10) * 0.5).astype("float32"), rate,
                    format=fmt, subtype=subtype)
    return buffer.getvalue()


# Sniffing ----------------------------------------------------------------------------------------

SAMPLES = {
    "png": lambda: image_bytes("PNG"),
    "jpg": lambda: image_bytes("JPEG"),
    "gif": lambda: image_bytes("GIF"),
    "webp": lambda: image_bytes("WEBP") if features.check("webp") else pytest.skip("Pillow without WebP"),
    "wav": lambda: wav_bytes(b"\0\0" * 4, bits=16),
    "ogg": lambda: soundfile_bytes("OGG", "VORBIS"),
    "opus": lambda: soundfile_bytes("OGG", "OPUS", 48000),
    "flac": lambda: soundfile_bytes("FLAC", "PCM_16"),
    "mp3": lambda: ID3_HEAD + MP3_FRAME,
    "m4a": lambda: M4A_HEAD,
    "aac": lambda: ADTS_FRAME,
}
EXPECTED = {"png": ("image", "image/png"), "jpg": ("image", "image/jpeg"), "gif": ("image", "image/gif"),
            "webp": ("image", "image/webp"), "wav": ("audio", "audio/wav"), "ogg": ("audio", "audio/ogg"),
            "opus": ("audio", "audio/ogg"), "flac": ("audio", "audio/flac"), "mp3": ("audio", "audio/mpeg"),
            "m4a": ("audio", "audio/mp4"), "aac": ("audio", "audio/aac")}


@pytest.mark.parametrize("ext", sorted(SAMPLES))
def test_sniff_knows_each_format_from_its_first_bytes(ext):
    data = SAMPLES[ext]()
    assert media.sniff(data[:media.SNIFF_BYTES]) == media.Sniffed(*EXPECTED[ext], ext)


def test_sniff_mp3_from_a_bare_frame_header():
    assert media.sniff(MP3_FRAME) == media.MP3
    assert media.sniff(b"\xff\xe3\x48\xc4") == media.MP3  # MPEG-2.5 Layer III, as libsndfile writes


@pytest.mark.parametrize("head", [
    b"", b"hello world", b"\x89PN", b"RIFF\x10\x00\x00\x00AVI LIST", b"OggS" + b"\x00" * 23 + b"\x01\x80theora",
    b"\xff\xfb\xf0\x64",  # bitrate index 15 is invalid
    b"\xff\xfd\x90\x64",  # Layer II: not MP3
    b"\x00\x00\x00\x20ftypisom", b"%!PS-Adobe-3.0 EPSF-3.0", b"II*\x00", b"{\"prompt\": 1}",
    b"\x00" * 64 + b"\x89PNG\r\n\x1a\n",  # only the first bytes count
])
def test_sniff_refuses_what_it_does_not_know(head):
    assert media.sniff(head) is None


def test_sniff_looks_behind_an_id3_tag(tmp_path):
    tag = b"ID3\x03\x00\x00\x00\x00\x01\x48" + b"\x00" * 200  # 200-byte tag: syncsafe 0x01 0x48
    assert media.sniff(b"ID3\x03\x00\x00\x00\x00\x00\x04" + b"\0" * 4 + b"fLaC\x00") == media.FLAC
    for behind, expected in [(b"fLaC\x00\x00\x00\x22", media.FLAC), (ADTS_FRAME, media.AAC), (MP3_FRAME, media.MP3)]:
        path = tmp_path / "a.bin"
        path.write_bytes(tag + behind)
        assert media.sniff(path.read_bytes()[:64]) == media.MP3  # the head alone cannot see past the tag
        assert media.sniff_file(path) == expected
        assert media.sniff(path.read_bytes()) == expected


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"RIFF", b"OggS", b"ID3", b"\xff", b"fLaC", b"GIF89a"]),
       rest=st.binary(max_size=80))
def test_sniff_never_crashes(prefix, rest):
    found = media.sniff(prefix + rest)
    assert found is None or (found.kind in ("image", "audio") and found.mime and found.ext)


# Images ------------------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_image_info_reads_the_header_only(tmp_path):
    good = image_bytes("PNG", "RGBA", (300, 120))
    cut = write(tmp_path / "cut.png", good[:60])  # header intact, pixel data cut off
    assert media.image_info(cut) == {"width": 300, "height": 120, "mode": "RGBA", "format": "PNG"}
    with pytest.raises(InvalidInput) as caught:
        media.make_thumbnails(cut, tmp_path / "thumbs", "cut")
    assert caught.value.code == "unreadable_image" and "cut.png" in caught.value.message
    assert not (tmp_path / "thumbs").exists()


@pytest.mark.parametrize("data", [b"not an image at all", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_undecodable_and_unsupported_images_are_invalid_input(tmp_path, data):
    path = write(tmp_path / "x.png", data)
    for call in (lambda: media.image_info(path), lambda: media.make_thumbnails(path, tmp_path, "x")):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.code == "unreadable_image"


def test_tiff_is_not_opened_even_though_pillow_could(tmp_path):
    path = write(tmp_path / "x.tif", image_bytes("TIFF"))
    with pytest.raises(InvalidInput):
        media.image_info(path)


def test_thumbnails_fit_keep_aspect_and_are_written_as_named(tmp_path):
    src = write(tmp_path / "src.jpg", image_bytes("JPEG", size=(1000, 500)))
    names = media.make_thumbnails(src, tmp_path / "thumbs", "abc123")
    assert names == {"256": "abc123.256.png", "512": "abc123.512.png"}
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["abc123.256.png", "abc123.512.png"]
    for size, name in names.items():
        with Image.open(tmp_path / "thumbs" / name) as thumb:
            assert thumb.format == "PNG" and thumb.size == (int(size), int(size) // 2)


def test_small_images_are_never_enlarged(tmp_path):
    src = write(tmp_path / "s.png", image_bytes("PNG", size=(100, 30)))
    names = media.make_thumbnails(src, tmp_path, "s")
    for name in names.values():
        with Image.open(tmp_path / name) as thumb:
            assert thumb.size == (100, 30)


def test_thumbnails_are_deterministic(tmp_path):
    image = Image.linear_gradient("L").resize((700, 300)).convert("RGB")
    image.save(tmp_path / "g.png")
    media.make_thumbnails(tmp_path / "g.png", tmp_path / "a", "g")
    media.make_thumbnails(tmp_path / "g.png", tmp_path / "b", "g")
    for size in media.THUMB_SIZES:
        assert (tmp_path / "a" / f"g.{size}.png").read_bytes() == (tmp_path / "b" / f"g.{size}.png").read_bytes()


def thumb(tmp_path: Path, image: Image.Image, fmt: str = "PNG", **save) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    src = write(tmp_path / f"src.{fmt.lower()}", buffer.getvalue())
    names = media.make_thumbnails(src, tmp_path / "t", "x")
    result = Image.open(tmp_path / "t" / names["256"])
    result.load()
    return result


def test_alpha_is_kept(tmp_path):
    image = Image.new("RGBA", (600, 600), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (300, 0, 600, 600))
    result = thumb(tmp_path, image)
    assert result.mode == "RGBA" and result.size == (256, 256)
    assert result.getpixel((10, 128))[3] == 0 and result.getpixel((250, 128)) == (0, 0, 255, 255)


def test_palette_images_with_and_without_transparency(tmp_path):
    plain = Image.new("P", (300, 300), 1)
    plain.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert thumb(tmp_path, plain).getpixel((5, 5)) == (10, 200, 30)
    clear = plain.copy()
    clear.info["transparency"] = 1
    result = thumb(tmp_path, clear, transparency=1)
    assert result.mode == "RGBA" and result.getpixel((5, 5))[3] == 0


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    result = thumb(tmp_path, Image.new("CMYK", (400, 200), (0, 255, 255, 0)), "JPEG", quality=95)
    assert result.mode == "RGB"
    red, green, blue = result.getpixel((100, 50))
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    image = Image.new("I;16", (512, 16))
    for x in range(512):
        for y in range(16):
            image.putpixel((x, y), x * 128)  # 0 .. 65408
    result = thumb(tmp_path, image)
    assert result.mode == "L"
    assert result.getpixel((0, 4)) < 5 and 120 < result.getpixel((128, 4)) < 136 and result.getpixel((255, 4)) > 245


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB"])
def test_other_modes_make_thumbnails(tmp_path, mode):
    assert thumb(tmp_path, Image.new(mode, (300, 300))).mode in ("L", "LA", "RGB", "RGBA")


def test_float_and_negative_values_are_stretched():
    image = Image.new("F", (3, 1))
    for x, value in enumerate((-2.0, 0.5, 3.0)):
        image.putpixel((x, 0), value)
    result = media._displayable(image)
    assert result.mode == "L" and [result.getpixel((x, 0)) for x in range(3)] == [0, 127, 255]
    wide = Image.new("I", (2, 1))
    wide.putpixel((1, 0), 65535)
    converted = media._displayable(wide)
    assert (converted.getpixel((0, 0)), converted.getpixel((1, 0))) == (0, 255)
    small = Image.new("I", (1, 1), 200)  # already 8-bit values: kept as they are
    assert media._displayable(small).getpixel((0, 0)) == 200


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    result = thumb(tmp_path, Image.new("RGB", (400, 200)), "JPEG", exif=exif)
    assert result.size == (128, 256)


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (300, 300), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    names = media.make_thumbnails(write(tmp_path / "a.gif", buffer.getvalue()), tmp_path, "a")
    with Image.open(tmp_path / names["256"]) as result:
        assert result.convert("RGB").getpixel((10, 10)) == (255, 0, 0)


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    src = write(tmp_path / "big.png", image_bytes("PNG", size=(20, 20)))
    monkeypatch.setattr(media, "MAX_PIXELS", 399)
    for call in (lambda: media.image_info(src), lambda: media.make_thumbnails(src, tmp_path / "t", "big")):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.code == "image_too_large" and "399" in caught.value.message


def test_a_tiny_file_claiming_huge_dimensions_is_refused(tmp_path):
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))
    with pytest.raises(InvalidInput) as caught:
        media.make_thumbnails(write(tmp_path / "bomb.png", data), tmp_path / "t", "bomb")
    assert caught.value.code == "image_too_large"


@pytest.mark.parametrize("stem", ["", "../x", "a/b", ".hidden"])
def test_thumbnail_names_must_be_plain(tmp_path, stem):
    src = write(tmp_path / "s.png", image_bytes("PNG"))
    with pytest.raises(InvalidInput):
        media.make_thumbnails(src, tmp_path, stem)


# Waveforms ---------------------------------------------------------------------------------------


@pytest.fixture(params=["numpy", "stdlib"])
def wav_reader(request, monkeypatch):
    """Run a test with numpy and again as if numpy were not installed."""
    if request.param == "stdlib":
        monkeypatch.setitem(sys.modules, "numpy", None)
    else:
        pytest.importorskip("numpy")
    return request.param


def pcm16(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def test_waveform_of_a_16_bit_wav(tmp_path, wav_reader):
    samples = [0] * 400 + [16384, -16384] * 200 + [-32768] * 10 + [0] * 390
    src = stdlib_wav(tmp_path / "a.wav", samples)
    result = media.waveform(src, points=12)
    assert result == {"version": 1, "points": [0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0],
                      "frames": 1200, "sample_rate": 8000, "channels": 1, "duration_sec": 0.15}


def test_the_peak_is_taken_over_all_channels(tmp_path, wav_reader):
    frames = [0, 8192] * 100 + [-16384, 0] * 100  # left quiet then loud; right the opposite
    result = media.waveform(stdlib_wav(tmp_path / "s.wav", frames, channels=2), points=2)
    assert result["points"] == [0.25, 0.5] and result["channels"] == 2 and result["frames"] == 200


@pytest.mark.parametrize("bits,tag,encode,scale", [
    (8, 1, lambda v: bytes(int(128 + v * 127) for v in v), 127 / 128),
    (24, 1, lambda v: b"".join(int(x * 8388607).to_bytes(3, "little", signed=True) for x in v), 1.0),
    (32, 1, lambda v: b"".join(int(x * 2147483647).to_bytes(4, "little", signed=True) for x in v), 1.0),
    (32, 3, lambda v: struct.pack(f"<{len(v)}f", *v), 1.0),
    (64, 3, lambda v: struct.pack(f"<{len(v)}d", *v), 1.0),
])
@pytest.mark.parametrize("extensible", [False, True])
def test_waveform_of_every_pcm_and_float_width(tmp_path, wav_reader, bits, tag, encode, scale, extensible):
    values = [0.25, -0.25] * 50 + [0.75, -1.0] * 50
    src = write(tmp_path / "w.wav", wav_bytes(encode(values), bits=bits, tag=tag, extensible=extensible))
    result = media.waveform(src, points=2)
    assert result["points"] == pytest.approx([0.25 * scale, 1.0 * scale], abs=0.01)
    assert result["frames"] == 200


def test_waveform_streams_in_blocks_with_the_same_result(tmp_path, wav_reader, monkeypatch):
    samples = [(i * 37) % 20000 - 10000 for i in range(5000)]
    src = stdlib_wav(tmp_path / "l.wav", samples)
    whole = media.waveform(src, points=7)
    monkeypatch.setattr(media, "BLOCK_FRAMES", 13)
    assert media.waveform(src, points=7) == whole
    assert whole["points"] == [round(max(abs(v) for v in samples[i * 5000 // 7:(i + 1) * 5000 // 7]) / 32768, 4)
                               for i in range(7)]


def test_short_and_empty_audio(tmp_path):
    assert media.waveform(stdlib_wav(tmp_path / "a.wav", [16384, 0, -8192]), points=200)["points"] == [0.5, 0.0, 0.25]
    empty = media.waveform(stdlib_wav(tmp_path / "e.wav", []))
    assert empty["points"] == [] and empty["duration_sec"] == 0.0 and empty["frames"] == 0


def test_unusual_chunk_layouts(tmp_path):
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd size plus its pad byte
    data = pcm16([0, 16384] * 10)
    for variant in (wav_bytes(data, bits=16, extra=odd_chunk), wav_bytes(data, bits=16, data_size=0xFFFFFFFF),
                    wav_bytes(data, bits=16, data_size=10**6), wav_bytes(data + b"\x01", bits=16)):
        result = media.waveform(write(tmp_path / "v.wav", variant), points=1)
        assert result["points"] == [0.5] and result["frames"] == 20


@pytest.mark.parametrize("data", [b"RIFF\x04\x00\x00\x00WAVE", b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00",
                                  wav_bytes(b"", bits=16, channels=0)])
def test_damaged_wav_is_invalid_input(tmp_path, data):
    with pytest.raises(InvalidInput) as caught:
        media.waveform(write(tmp_path / "d.wav", data))
    assert caught.value.code == "unreadable_audio"


def test_non_audio_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput):
        media.waveform(write(tmp_path / "x.png", image_bytes("PNG")))
    with pytest.raises(InvalidInput):
        media.waveform(stdlib_wav(tmp_path / "a.wav", [1]), points=0)


@pytest.mark.parametrize("ext,fmt,subtype,rate", [("ogg", "OGG", "VORBIS", 16000), ("opus", "OGG", "OPUS", 48000),
                                                   ("flac", "FLAC", "PCM_16", 16000),
                                                   ("mp3", "MP3", "MPEG_LAYER_III", 16000)])
def test_waveform_of_compressed_audio_with_soundfile(tmp_path, ext, fmt, subtype, rate):
    result = media.waveform(write(tmp_path / f"a.{ext}", soundfile_bytes(fmt, subtype, rate)), points=10)
    assert result["sample_rate"] == rate and result["channels"] == 1
    assert result["duration_sec"] == pytest.approx(1.0, abs=0.05)
    assert len(result["points"]) == 10 and all(0.4 < peak < 0.7 for peak in result["points"])


def test_without_soundfile_compressed_audio_is_skipped_with_a_reason(tmp_path, monkeypatch):
    src = write(tmp_path / "a.flac", soundfile_bytes("FLAC", "PCM_16"))
    ulaw = write(tmp_path / "u.wav", wav_bytes(b"\xff" * 100, bits=8, tag=7))
    monkeypatch.setitem(sys.modules, "soundfile", None)
    for path, ext in ((src, "flac"), (ulaw, "wav")):
        with pytest.raises(media.WaveformUnavailable) as caught:
            media.waveform(path)
        assert str(caught.value) == f"reading {ext} audio needs soundfile (install the 'audio' extra)"


def test_mu_law_wav_goes_through_soundfile(tmp_path):
    pytest.importorskip("soundfile")
    result = media.waveform(write(tmp_path / "u.wav", wav_bytes(b"\xff" * 50 + b"\x80" * 50, bits=8, tag=7)), 2)
    assert result["frames"] == 100 and result["points"][0] < 0.01 < 0.9 < result["points"][1]


def test_formats_soundfile_cannot_read_are_skipped(tmp_path):
    pytest.importorskip("soundfile")
    with pytest.raises(media.WaveformUnavailable, match="soundfile cannot read this m4a file"):
        media.waveform(write(tmp_path / "a.m4a", M4A_HEAD + b"\x00" * 100))


def test_write_waveform_writes_the_json_it_returns(tmp_path):
    src = stdlib_wav(tmp_path / "a.wav", [0, 16384] * 50)
    result = media.write_waveform(src, tmp_path / "out" / "a.waveform.json", points=5)
    assert json.loads((tmp_path / "out" / "a.waveform.json").read_text()) == result
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.waveform.json"]


def test_nan_samples_in_float_wav_are_ignored(tmp_path, wav_reader):
    data = struct.pack("<4f", float("nan"), 0.5, -0.25, float("nan"))
    result = media.waveform(write(tmp_path / "n.wav", wav_bytes(data, bits=32, tag=3)), points=2)
    assert result["points"] == [0.5, 0.25]
