"""The text chunks of a PNG card, read straight from the chunk list.

SillyTavern writes its ``chara``/``ccv3`` ``tEXt`` chunks just before ``IEND``, after the image
data. Pillow only reaches chunks after ``IDAT`` by decoding the whole image (slow for big cards,
and a decompression-bomb risk) and caps compressed text at 1 MB, so this small walker reads the
chunk list instead: no pixel is decoded, ``zTXt``/``iTXt`` are inflated with a size cap, and a
truncated or damaged file still yields the chunks before the damage.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from comfyvn.roleplay.transcript import Problem

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT = 64 * 1024 * 1024  # largest inflated zTXt/iTXt value we accept
ASSET_PREFIX = "chara-ext-asset_"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


def wanted(keyword: str) -> bool:
    """Chunks a card reader cares about: the card itself and RisuAI-style embedded assets."""
    return keyword in ("chara", "ccv3") or keyword.startswith(ASSET_PREFIX)


@dataclass(slots=True)
class PngText:
    """Wanted text chunks by lower-cased keyword (the first of each wins), the byte spans of every
    chunk that is not one of them (to rebuild the plain image), and what went wrong."""

    texts: dict[str, str] = field(default_factory=dict)
    keep: list[tuple[int, int]] = field(default_factory=list)
    complete: bool = False  # IEND was reached
    problems: list[Problem] = field(default_factory=list)


def read_text_chunks(data: bytes) -> PngText:
    out = PngText()
    pos = len(SIGNATURE)
    size = len(data)
    while pos < size:
        if pos + 12 > size:
            out.problems.append(Problem(f"the PNG is truncated at byte {pos} (incomplete chunk header)"))
            return out
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            name = ctype.decode("latin-1")
            out.problems.append(Problem(f"the PNG is truncated at byte {pos} (chunk {name!r} of {length} bytes "
                                        f"runs past the end of the file)"))
            return out
        keyword = ""
        if ctype in _TEXT_TYPES:
            body = data[pos + 8:pos + 8 + length]
            if zlib.crc32(ctype + body) != struct.unpack(">I", data[end - 4:end])[0]:
                out.problems.append(Problem(f"chunk {ctype.decode()} at byte {pos} has a bad checksum (damaged file?); "
                                            "read anyway", severity="info"))
            keyword = _read_text(ctype, body, pos, out)
        if not keyword:
            out.keep.append((pos, end))
        if ctype == b"IEND":
            out.complete = True
            return out
        pos = end
    out.problems.append(Problem("the PNG has no IEND chunk (truncated?)", severity="info"))
    return out


def _read_text(ctype: bytes, body: bytes, pos: int, out: PngText) -> str:
    """Store a wanted chunk's text; its keyword when it was a wanted one, else ''."""
    raw_key, sep, rest = body.partition(b"\0")
    keyword = raw_key.decode("latin-1").strip().lower()
    if not sep or not wanted(keyword):
        return ""
    compressed = ctype == b"zTXt"
    encoding = "latin-1"
    if ctype == b"zTXt":
        rest = rest[1:]  # compression method byte (0 = deflate, the only one defined)
    elif ctype == b"iTXt":
        if len(rest) < 2:
            out.problems.append(Problem(f"iTXt chunk {keyword!r} at byte {pos} is cut short: skipped"))
            return keyword
        compressed, rest = rest[0] == 1, rest[2:]
        parts = rest.split(b"\0", 2)  # language tag, translated keyword, text
        if len(parts) < 3:
            out.problems.append(Problem(f"iTXt chunk {keyword!r} at byte {pos} is malformed: skipped"))
            return keyword
        rest, encoding = parts[2], "utf-8"
    if compressed:
        inflater = zlib.decompressobj()
        try:
            rest = inflater.decompress(rest, MAX_TEXT)
        except zlib.error as exc:
            out.problems.append(Problem(f"compressed chunk {keyword!r} at byte {pos} does not inflate ({exc}): "
                                        "skipped"))
            return keyword
        if inflater.unconsumed_tail:
            out.problems.append(Problem(f"chunk {keyword!r} at byte {pos} inflates to over {MAX_TEXT} bytes: "
                                        "skipped"))
            return keyword
    if keyword in out.texts:
        out.problems.append(Problem(f"a second {keyword!r} chunk at byte {pos} was ignored (the first one wins)",
                                    severity="info"))
        return keyword
    out.texts[keyword] = rest.decode(encoding, "replace")
    return keyword


def without_card_chunks(data: bytes, text: PngText) -> bytes:
    """The image with the card's text chunks removed (the card image as a plain picture)."""
    parts = [SIGNATURE, *(data[start:end] for start, end in text.keep)]
    if not text.complete:
        parts.append(b"\0\0\0\0IEND\xaeB`\x82")
    return b"".join(parts)
