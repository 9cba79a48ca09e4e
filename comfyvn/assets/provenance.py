"""Provenance embedded in the asset files themselves.

PNG: one ``iTXt`` chunk with keyword :data:`KEY` holding compact canonical JSON (sorted keys,
UTF-8), written by rewriting the chunk list: pixel data is copied byte for byte, never
re-encoded. ComfyUI's ``prompt`` and ``workflow`` chunks are dropped on the way.
Audio (needs ``mutagen``, the optional ``audio`` extra): MP3 and WAV get an ID3 ``TXXX:comfyvn``
frame, Ogg Vorbis/Opus and FLAC a ``COMFYVN`` Vorbis comment. Without mutagen nothing is written
and the status says so.
"""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from comfyvn.assets import media
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes, canonical_bytes

log = logging.getLogger(__name__)

KEY = "comfyvn"
COMFYUI_KEYS = ("prompt", "workflow")
STRIP_KEYS = (KEY, *COMFYUI_KEYS)
VORBIS_KEY = "COMFYVN"
MAX_TEXT = 16 * 1024 * 1024  # largest inflated text chunk read back
SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
_AUDIO_FORMATS = ("mp3", "wav", "ogg", "opus", "flac")
SKIPPED_NO_MUTAGEN = "skipped: mutagen not installed"


def encode(provenance: dict[str, Any]) -> bytes:
    """Compact canonical JSON of a provenance object (InvalidInput if it is not one)."""
    if not isinstance(provenance, dict):
        raise InvalidInput(f"provenance must be a JSON object, not {type(provenance).__name__}")
    try:
        return canonical_bytes(provenance)
    except (TypeError, RecursionError) as exc:
        raise InvalidInput(f"provenance cannot be written as JSON ({exc}); use strings, numbers, lists "
                           "and objects only") from None


def _decode(raw: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"the {KEY} provenance in {where} is not valid JSON ({exc})",
                           code="unreadable_provenance") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"the {KEY} provenance in {where} is not a JSON object", code="unreadable_provenance")
    return value


# PNG ---------------------------------------------------------------------------------------------

def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk up to IEND, checking the signature, lengths, CRCs and
    order (IHDR first, an IDAT, IEND last). Bytes after IEND are not part of the image."""
    data = bytes(data)
    if not data.startswith(SIGNATURE):
        raise InvalidInput("not a PNG file (bad signature)", code="invalid_png")
    chunks: list[tuple[bytes, int, int]] = []
    pos = len(SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise InvalidInput(f"the PNG is truncated at byte {pos} (no IEND chunk)", code="invalid_png")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data) or not ctype.isalpha():
            raise InvalidInput(f"the PNG is damaged at byte {pos} (chunk {ctype!r} of {length} bytes)",
                               code="invalid_png")
        if zlib.crc32(data[pos + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
            raise InvalidInput(f"the PNG is damaged: chunk {ctype.decode('latin-1')} at byte {pos} has a bad "
                               "CRC; export the image again", code="invalid_png")
        if not chunks and ctype != b"IHDR":
            raise InvalidInput("the PNG is damaged: the first chunk is not IHDR", code="invalid_png")
        chunks.append((ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            break
    if not any(ctype == b"IDAT" for ctype, _, _ in chunks):
        raise InvalidInput("the PNG has no image data (IDAT chunk)", code="invalid_png")
    return chunks


def _keyword(ctype: bytes, body: bytes) -> str | None:
    """The keyword of a text chunk, None for other chunks."""
    if ctype not in _TEXT_TYPES:
        return None
    return body.split(b"\0", 1)[0].decode("latin-1")


def _text(ctype: bytes, body: bytes) -> bytes:
    """The text bytes of a tEXt/zTXt/iTXt chunk (inflated, capped at MAX_TEXT)."""
    rest = body.split(b"\0", 1)[1] if b"\0" in body else b""
    compressed = False
    if ctype == b"zTXt":
        compressed, rest = True, rest[1:]
    elif ctype == b"iTXt":
        if len(rest) < 2:
            raise InvalidInput(f"the {KEY} iTXt chunk is cut short", code="unreadable_provenance")
        compressed, parts = rest[0] == 1, rest[2:].split(b"\0", 2)
        if len(parts) < 3:
            raise InvalidInput(f"the {KEY} iTXt chunk is malformed", code="unreadable_provenance")
        rest = parts[2]
    if not compressed:
        return rest
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(rest, MAX_TEXT)
    except zlib.error as exc:
        raise InvalidInput(f"the {KEY} text chunk does not inflate ({exc})", code="unreadable_provenance") from None
    if inflater.unconsumed_tail:
        raise InvalidInput(f"the {KEY} text chunk inflates to over {MAX_TEXT} bytes", code="unreadable_provenance")
    return text


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _rebuild(data: bytes, drop: tuple[str, ...], insert: bytes = b"") -> bytes:
    chunks = _chunks(data)
    dropped = {key.lower() for key in drop}
    parts = [SIGNATURE]
    for ctype, start, end in chunks:
        keyword = _keyword(ctype, data[start + 8:end - 4])
        if keyword is not None and keyword.lower() in dropped:
            continue
        if ctype == b"IDAT" and insert:
            parts.append(insert)
            insert = b""
        parts.append(data[start:end])
    return b"".join(parts)


def embed_png(data: bytes, provenance: dict[str, Any]) -> bytes:
    """The PNG with one ``comfyvn`` iTXt chunk (before the first IDAT) holding ``provenance``;
    earlier ``comfyvn`` and ComfyUI ``prompt``/``workflow`` text chunks are removed."""
    body = KEY.encode("latin-1") + b"\0\0\0\0\0" + encode(provenance)  # uncompressed, no language
    return _rebuild(data, STRIP_KEYS, _chunk(b"iTXt", body))


def has_text(data: bytes, keys: tuple[str, ...] = COMFYUI_KEYS) -> bool:
    """Whether the PNG has a text chunk (tEXt, zTXt or iTXt; keyword in any case) named in ``keys``."""
    wanted = {key.lower() for key in keys}
    return any((_keyword(ctype, data[start + 8:end - 4]) or "").lower() in wanted
               for ctype, start, end in _chunks(data))


def read_png(data: bytes) -> dict[str, Any] | None:
    """The provenance embedded by :func:`embed_png`, or None when there is none."""
    for ctype, start, end in _chunks(data):
        body = data[start + 8:end - 4]
        if _keyword(ctype, body) == KEY:
            return _decode(_text(ctype, body), "the PNG")
    return None


def strip_png(data: bytes, keys: tuple[str, ...] = STRIP_KEYS) -> bytes:
    """The PNG without text chunks whose keyword is one of ``keys`` (case-insensitive)."""
    return _rebuild(data, tuple(keys))


# Audio -------------------------------------------------------------------------------------------

def _audio_kind(path: Path) -> str:
    found = media.sniff_file(path)
    return found.ext if found is not None else "unknown"


def _load(kind: str, buffer: io.BytesIO) -> tuple[Any, Any]:
    """(object to save, its tags) for ``kind``, loaded from ``buffer`` with mutagen; the tags are an
    ID3 tag for MP3/WAV and a Vorbis comment for the rest, created when the file has none."""
    if kind == "mp3":
        from mutagen.id3 import ID3, ID3NoHeaderError

        try:
            tag = ID3(buffer)
        except ID3NoHeaderError:
            tag = ID3()
        return tag, tag
    if kind == "wav":
        from mutagen.wave import WAVE as Opener
    elif kind == "flac":
        from mutagen.flac import FLAC as Opener
    elif kind == "ogg":
        from mutagen.oggvorbis import OggVorbis as Opener
    else:
        from mutagen.oggopus import OggOpus as Opener
    audio = Opener(buffer)
    if audio.tags is None:
        audio.add_tags()
    return audio, audio.tags


def _values(kind: str, tags: Any) -> list[str]:
    if kind in ("mp3", "wav"):
        return [str(text) for frame in tags.getall(f"TXXX:{KEY}") for text in frame.text]
    return list(tags.get(VORBIS_KEY, []))


def _save(audio: Any, buffer: io.BytesIO) -> None:
    buffer.seek(0)
    audio.save(buffer)


def _edit(kind: str, data: bytes, change: Any, where: str = "") -> tuple[str, bytes]:
    """Let ``change(kind, buffer)`` edit ``data`` in memory with mutagen; returns (status, new bytes),
    the bytes unchanged when it was skipped."""
    try:
        import mutagen
    except ImportError:
        return SKIPPED_NO_MUTAGEN, data
    if kind not in _AUDIO_FORMATS:
        return f"skipped: {kind} not supported", data
    buffer = io.BytesIO(data)
    try:
        status = change(kind, buffer)
    except (mutagen.MutagenError, ValueError, struct.error, EOFError) as exc:
        log.warning("could not write audio tags", extra={"path": where, "format": kind, "error": str(exc)})
        return f"skipped: {kind} tags could not be written ({exc})", data
    return status, buffer.getvalue()


def _rewrite(path: Path, change: Any) -> str:
    """Load ``path`` into memory, let ``change(kind, buffer)`` edit it with mutagen, then replace the
    file atomically: a failure leaves the original untouched. Returns the status."""
    try:
        import mutagen  # noqa: F401 - only whether it is installed
    except ImportError:
        return SKIPPED_NO_MUTAGEN
    path = Path(path)
    status, data = _edit(_audio_kind(path), path.read_bytes(), change, str(path))
    if not status.startswith("skipped"):
        atomic_write_bytes(path, data, mode=os.stat(path).st_mode & 0o7777)
    return status


def embed_audio(path: Path, provenance: dict[str, Any]) -> str:
    """Embed ``provenance`` in an audio file's tags, replacing an earlier one. Returns
    ``"embedded"`` or ``"skipped: <why>"``; the file is only ever replaced whole."""
    text = encode(provenance).decode("utf-8")

    def change(kind: str, buffer: io.BytesIO) -> str:
        audio, tags = _load(kind, buffer)
        if kind in ("mp3", "wav"):
            from mutagen.id3 import TXXX

            tags.delall(f"TXXX:{KEY}")
            tags.add(TXXX(encoding=3, desc=KEY, text=[text]))
        else:
            tags[VORBIS_KEY] = [text]
        _save(audio, buffer)
        return "embedded"

    return _rewrite(path, change)


def _strip(kind: str, buffer: io.BytesIO) -> str:
    audio, tags = _load(kind, buffer)
    if not _values(kind, tags):
        return "absent"
    if kind in ("mp3", "wav"):
        tags.delall(f"TXXX:{KEY}")
    else:
        del tags[VORBIS_KEY]
    _save(audio, buffer)
    return "stripped"


def strip_audio(path: Path) -> str:
    """Remove embedded provenance from an audio file. Returns ``"stripped"``, ``"absent"`` or
    ``"skipped: <why>"``."""
    return _rewrite(path, _strip)


def strip_audio_bytes(data: bytes) -> tuple[str, bytes]:
    """:func:`strip_audio` on an audio file's bytes: ``(status, bytes without provenance)``; the
    bytes are returned unchanged when the status is ``"absent"`` or ``"skipped: <why>"``."""
    found = media.sniff(data)  # the whole file: audio behind an ID3 tag is recognised too
    status, out = _edit(found.ext if found is not None else "unknown", bytes(data), _strip)
    return status, (out if status == "stripped" else bytes(data))


def read_audio(path: Path) -> dict[str, Any] | None:
    """The provenance embedded by :func:`embed_audio`; None when there is none, the format has no
    tags we write, or mutagen is not installed."""
    try:
        import mutagen
    except ImportError:
        return None
    path = Path(path)
    kind = _audio_kind(path)
    if kind not in _AUDIO_FORMATS:
        return None
    try:
        _, tags = _load(kind, io.BytesIO(path.read_bytes()))
    except (mutagen.MutagenError, ValueError, struct.error, EOFError) as exc:
        raise InvalidInput(f"{path.name}: the {kind} tags cannot be read ({exc})", code="unreadable_audio") from None
    values = _values(kind, tags)
    return _decode(values[0].encode("utf-8"), path.name) if values else None
