"""Media helpers for assets: type sniffing, thumbnails, image facts and audio waveforms.

Types come from the file's first bytes, never its name. Pillow decodes images; ``numpy`` and
``soundfile`` (the optional ``audio`` extra) are imported inside the functions that use them, so
this module works without them: PCM and float WAV are read with the standard library, other audio
formats raise :class:`WaveformUnavailable` naming what is missing.
"""

from __future__ import annotations

import io
import math
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from comfyvn.core.errors import ComfyVNError, InvalidInput
from comfyvn.core.store import atomic_write_bytes, atomic_write_json

SNIFF_BYTES = 64
THUMB_SIZES = (256, 512)
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3  # Pillow's default MAX_IMAGE_PIXELS (about 89 megapixels)
WAVEFORM_POINTS = 200
WAVEFORM_VERSION = 1
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
BLOCK_FRAMES = 65536  # audio frames read at a time: memory stays bounded for any length


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "image" | "audio"
    mime: str
    ext: str  # "png", "mp3", ... (no dot)


class WaveformUnavailable(Exception):
    """No waveform can be computed for this file here (optional package missing, codec not
    readable); ``str(error)`` is the reason. Not an input error: the asset itself is fine."""


PNG = Sniffed("image", "image/png", "png")
JPEG = Sniffed("image", "image/jpeg", "jpg")
GIF = Sniffed("image", "image/gif", "gif")
WEBP = Sniffed("image", "image/webp", "webp")
WAV = Sniffed("audio", "audio/wav", "wav")
OGG = Sniffed("audio", "audio/ogg", "ogg")
OPUS = Sniffed("audio", "audio/ogg", "opus")
FLAC = Sniffed("audio", "audio/flac", "flac")
MP3 = Sniffed("audio", "audio/mpeg", "mp3")
AAC = Sniffed("audio", "audio/aac", "aac")
M4A = Sniffed("audio", "audio/mp4", "m4a")


def sniff(head: bytes) -> Sniffed | None:
    """The media type of a file from its first bytes (``SNIFF_BYTES`` is enough), or None. Given
    more (the whole file), the audio behind a leading ID3 tag is recognised too."""
    head = bytes(head)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"OggS" and len(head) > 27:
        packet = head[27 + head[26]:]
        if packet.startswith(b"\x01vorbis"):
            return OGG
        if packet.startswith(b"OpusHead"):
            return OPUS
        return None  # Theora video, Ogg FLAC, Speex...: not supported
    if head[:4] == b"fLaC":
        return FLAC
    if head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B "):
        return M4A
    if head[:3] == b"ID3" and len(head) >= 10 and head[3] in (2, 3, 4) and all(b < 0x80 for b in head[6:10]):
        after = head[10 + _syncsafe(head[6:10]):]
        if after.startswith(b"fLaC"):
            return FLAC  # some taggers put an ID3 tag in front of FLAC
        if len(after) >= 4 and _adts(after):
            return AAC
        return MP3
    if _mpeg_audio(head):
        return MP3
    if _adts(head):
        return AAC
    return None


def sniff_file(path: Path) -> Sniffed | None:
    """:func:`sniff` on a file; an ID3 tag is skipped to look at the audio behind it."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        found = sniff(head)
        if found is MP3 and head[:3] == b"ID3":
            handle.seek(10 + _syncsafe(head[6:10]))
            behind = handle.read(SNIFF_BYTES)
            return FLAC if behind.startswith(b"fLaC") else AAC if _adts(behind) else MP3
    return found


def _syncsafe(four: bytes) -> int:
    return (four[0] << 21) | (four[1] << 14) | (four[2] << 7) | four[3]


def _mpeg_audio(head: bytes) -> bool:
    """An MPEG audio Layer III frame header: sync, valid version, bitrate and sample rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _adts(head: bytes) -> bool:
    """An AAC ADTS frame header: 12 sync bits, layer 0, valid sampling index."""
    return (len(head) >= 4 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0
            and (head[2] >> 2) & 0xF < 13)


# Images ------------------------------------------------------------------------------------------

def _open_image(path: Path) -> Any:
    """Open an image lazily (header only), refusing undecodable files and decompression bombs.
    Only the formats :func:`sniff` knows are tried (never EPS, PSD...)."""
    from PIL import Image

    name = Path(path).name
    limit = min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)
    try:
        image = Image.open(path, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:
        image = None
    except Exception as exc:  # Pillow's parsers raise many types for damaged headers
        raise InvalidInput(f"{name}: not a readable image ({type(exc).__name__}: {exc}); upload a PNG, JPEG, "
                           "GIF or WebP file", code="unreadable_image") from None
    if image is None or image.width * image.height > limit:
        size = f"{image.width}x{image.height} pixels" if image is not None else "the image"
        if image is not None:
            image.close()
        raise InvalidInput(f"{name}: {size} is over the limit of {limit} pixels (a possible decompression "
                           "bomb); resize the image and upload it again", code="image_too_large",
                           details={"limit": limit})
    return image


def image_info(path: Path) -> dict[str, Any]:
    """Width, height, mode and format from the header; no pixel is decoded."""
    with _open_image(path) as image:
        return {"width": image.width, "height": image.height, "mode": image.mode, "format": image.format}


def make_thumbnails(src: Path, dest_dir: Path, stem: str) -> dict[str, str]:
    """Write ``dest_dir/<stem>.<N>.png`` for each N in ``THUMB_SIZES``, fitting inside NxN with the
    aspect ratio kept and never enlarged (a small source gives thumbnails at its own size).
    Returns ``{"256": "<file name>", ...}``."""
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise InvalidInput(f"thumbnail name {stem!r} must be a plain file name")
    from PIL import Image, ImageOps

    try:
        with _open_image(src) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max(THUMB_SIZES), max(THUMB_SIZES)))  # decode at a reduced scale
            image.load()
            current = _displayable(ImageOps.exif_transpose(image))
            encoded: dict[int, bytes] = {}
            for size in sorted(THUMB_SIZES, reverse=True):  # each size from the next larger one
                current = current.copy()
                current.thumbnail((size, size), Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                current.save(buffer, format="PNG", compress_level=6)
                encoded[size] = buffer.getvalue()
    except ComfyVNError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types for damaged data
        raise InvalidInput(f"{Path(src).name}: the image could not be decoded ({type(exc).__name__}: {exc}); "
                           "the file is damaged or truncated", code="unreadable_image") from None
    names = {}
    for size in THUMB_SIZES:
        name = f"{stem}.{size}.png"
        atomic_write_bytes(Path(dest_dir) / name, encoded[size])
        names[str(size)] = name
    return names


def _displayable(image: Any) -> Any:
    """The image in a mode PNG stores in 8 bits per channel: RGB(A) or L(A)."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float grey
        if mode.startswith("I;16"):
            image = image.convert("I")
        low, high = image.getextrema()
        if mode == "F" or low < 0 or high > 65535:
            span = (high - low) or 1
            image = image.point(lambda v: (v - low) * (255 / span))
        elif high > 255:
            image = image.point(lambda v: v * (1 / 257))
        return image.convert("L")
    return image.convert("RGBA" if "A" in image.getbands() or "a" in mode else "RGB")


# Audio -------------------------------------------------------------------------------------------

def waveform(src: Path, points: int = WAVEFORM_POINTS) -> dict[str, Any]:
    """Peaks (0..1, max over channels) of ``points`` equal slices of the audio, with its facts.

    WAV (PCM 8/16/24/32-bit, float 32/64) is read with the standard library (numpy speeds it up
    when installed); other formats need ``soundfile``. Raises :class:`WaveformUnavailable` when
    this installation cannot read the file and InvalidInput when the file is damaged."""
    if points < 1:
        raise InvalidInput("waveform points must be at least 1")
    src = Path(src)
    kind = sniff_file(src)
    if kind is None or kind.kind != "audio":
        raise InvalidInput(f"{src.name}: not an audio file this product reads")
    if kind == WAV:
        with open(src, "rb") as handle:
            fmt = _wav_format(handle, src.name)
            if fmt is not None:
                return _wav_waveform(handle, fmt, points)
    return _soundfile_waveform(src, kind, points)


def write_waveform(src: Path, dest: Path, points: int = WAVEFORM_POINTS) -> dict[str, Any]:
    """Compute :func:`waveform` and write it atomically as JSON to ``dest``."""
    result = waveform(src, points)
    atomic_write_json(Path(dest), result)
    return result


def _result(peaks: list[float], frames: int, rate: int, channels: int) -> dict[str, Any]:
    return {"version": WAVEFORM_VERSION, "points": peaks, "frames": frames, "sample_rate": rate,
            "channels": channels, "duration_sec": round(frames / rate, 6) if rate else 0.0}


def _buckets(frames: int, points: int, read_peak: Any) -> list[float]:
    """Split ``frames`` into ``min(points, frames)`` slices and take each slice's peak, reading at
    most ``BLOCK_FRAMES`` at a time. ``read_peak(n)`` returns (frames read, peak)."""
    count = min(points, frames)
    peaks = []
    for index in range(count):
        remaining = (index + 1) * frames // count - index * frames // count
        peak = 0.0
        while remaining > 0:
            got, value = read_peak(min(remaining, BLOCK_FRAMES))
            if got <= 0:
                break  # shorter than announced: the rest of the slice is silence
            peak, remaining = max(peak, value), remaining - got
        peaks.append(round(min(peak, 1.0), 4))
    return peaks


@dataclass(frozen=True)
class _WavFormat:
    float: bool
    bits: int
    channels: int
    rate: int
    data_offset: int
    data_size: int


def _wav_format(handle: BinaryIO, name: str) -> _WavFormat | None:
    """Parse the RIFF chunks; None for codecs other than PCM and IEEE float (ADPCM, A-law...)."""
    header = handle.read(12)
    handle.seek(0, 2)
    file_size = handle.tell()
    pos, fmt, data = 12, None, None
    while pos + 8 <= file_size and (fmt is None or data is None):
        handle.seek(pos)
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        if chunk_id == b"fmt ":
            fmt = handle.read(min(size, 64))
        elif chunk_id == b"data":
            data = (pos + 8, min(size, file_size - pos - 8) if size not in (0, 0xFFFFFFFF) else file_size - pos - 8)
        pos += 8 + size + (size & 1)
    if header[8:12] != b"WAVE" or fmt is None or len(fmt) < 16 or data is None:
        raise InvalidInput(f"{name}: the WAV file is damaged (no 'fmt ' or 'data' chunk)", code="unreadable_audio")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag
        tag = struct.unpack("<H", fmt[24:26])[0]
    if not (tag == 1 and bits in (8, 16, 24, 32)) and not (tag == 3 and bits in (32, 64)):
        return None
    if channels < 1 or rate < 1:
        raise InvalidInput(f"{name}: the WAV header says {channels} channels at {rate} Hz", code="unreadable_audio")
    return _WavFormat(tag == 3, bits, channels, rate, data[0], data[1])


def _wav_waveform(handle: BinaryIO, fmt: _WavFormat, points: int) -> dict[str, Any]:
    frame_bytes = fmt.channels * fmt.bits // 8
    frames = fmt.data_size // frame_bytes
    handle.seek(fmt.data_offset)
    try:
        import numpy
    except ImportError:
        numpy = None

    def read_peak(count: int) -> tuple[int, float]:
        raw = handle.read(count * frame_bytes)
        raw = raw[:len(raw) - len(raw) % frame_bytes]
        if not raw:
            return 0, 0.0
        return len(raw) // frame_bytes, _pcm_peak(raw, fmt, numpy)

    return _result(_buckets(frames, points, read_peak), frames, fmt.rate, fmt.channels)


def _pcm_peak(raw: bytes, fmt: _WavFormat, numpy: Any) -> float:
    """Largest absolute sample in little-endian PCM/float bytes, as a fraction of full scale."""
    if fmt.bits == 24:  # widen to 32 bits (value << 8) with C-speed slicing
        wide = bytearray(len(raw) // 3 * 4)
        wide[1::4], wide[2::4], wide[3::4] = raw[0::3], raw[1::3], raw[2::3]
        raw = bytes(wide)
    code = {8: "B", 16: "h", 24: "i", 32: "f" if fmt.float else "i", 64: "d"}[fmt.bits]
    if numpy is not None:
        values = numpy.frombuffer(raw, dtype=numpy.dtype(code).newbyteorder("<"))
        if fmt.float:
            peak = float(numpy.nanmax(numpy.abs(values))) if values.size else 0.0
            return 0.0 if math.isnan(peak) else peak
        high, low = int(values.max()), int(values.min())
    else:
        values = array(code, raw)
        if sys.byteorder == "big":
            values.byteswap()
        if fmt.float:
            return max((abs(value) for value in values if value == value), default=0.0)  # NaN skipped
        high, low = max(values), min(values)
    if fmt.bits == 8:
        return max(high - 128, 128 - low) / 128
    return max(high, -low) / float(1 << (31 if fmt.bits >= 24 else fmt.bits - 1))


def _soundfile_waveform(src: Path, kind: Sniffed, points: int) -> dict[str, Any]:
    try:
        import numpy
        import soundfile
    except ImportError:
        raise WaveformUnavailable(f"reading {kind.ext} audio needs soundfile (install the 'audio' extra)") from None
    try:
        audio = soundfile.SoundFile(str(src))
    except RuntimeError as exc:  # soundfile's LibsndfileError
        raise WaveformUnavailable(f"soundfile cannot read this {kind.ext} file ({exc})") from None
    with audio:
        try:
            frames = audio.frames if 0 < audio.frames < (1 << 62) else 0
            if frames == 0:  # length not in the header: count once, then read again
                frames = sum(len(block) for block in audio.blocks(BLOCK_FRAMES, dtype="float32"))
                audio.seek(0)
            peaks = _block_peaks(audio.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True), frames, points, numpy)
        except RuntimeError as exc:
            raise InvalidInput(f"{src.name}: the {kind.ext} audio is damaged ({exc})",
                               code="unreadable_audio") from None
        return _result(peaks, frames, audio.samplerate, audio.channels)


def _block_peaks(blocks: Any, frames: int, points: int, numpy: Any) -> list[float]:
    """Like :func:`_buckets` for numpy blocks of one fixed size (libsndfile's MP3 decoder returns
    different samples for reads of varying sizes, so the reads never follow slice edges)."""
    count = min(points, frames)
    edges = [index * frames // count for index in range(1, count + 1)]
    peaks, bucket, pos = [0.0] * count, 0, 0
    for block in blocks:
        magnitude = numpy.nan_to_num(numpy.abs(block)).max(axis=1)
        start = 0
        while start < len(magnitude) and bucket < count:
            take = min(len(magnitude) - start, edges[bucket] - pos)
            if take > 0:
                peaks[bucket] = max(peaks[bucket], float(magnitude[start:start + take].max()))
            start, pos = start + take, pos + take
            if pos >= edges[bucket]:
                bucket += 1
        if bucket >= count:
            break
    return [round(min(peak, 1.0), 4) for peak in peaks]
