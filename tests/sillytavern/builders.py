"""Hand-built card files for the sillytavern tests: PNGs with text chunks, CHARX zips, fixtures."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
ST = FIXTURES / "sillytavern"


def fixture(relative: str) -> bytes:
    """Bytes of a shared fixture; skips the test when the shared folder is absent."""
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"shared fixture {relative} is not available")
    return path.read_bytes()


def b64json(obj: object) -> str:
    return base64.b64encode(json.dumps(obj).encode("utf-8")).decode("ascii")


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def text_chunk(keyword: str, value: str, kind: str = "tEXt") -> bytes:
    key = keyword.encode("latin-1") + b"\0"
    if kind == "tEXt":
        return chunk(b"tEXt", key + value.encode("latin-1"))
    if kind == "zTXt":
        return chunk(b"zTXt", key + b"\0" + zlib.compress(value.encode("latin-1")))
    return chunk(b"iTXt", key + b"\1\0" + b"en\0\0" + zlib.compress(value.encode("utf-8")))


def png(*chunks: bytes, size: tuple[int, int] = (2, 3)) -> bytes:
    """A real PNG image (drawn by Pillow) with ``chunks`` inserted just before IEND, like SillyTavern."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(out, "PNG")
    image = out.getvalue()
    assert image.endswith(chunk(b"IEND", b""))
    return image[:-12] + b"".join(chunks) + image[-12:]


def card_png(card: dict, keyword: str = "chara", kind: str = "tEXt") -> bytes:
    return png(text_chunk(keyword, b64json(card), kind))


def charx(card: dict | None, files: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if card is not None:
            archive.writestr("card.json", json.dumps(card))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def v3(**data: object) -> dict:
    body = {"name": "Mira", "description": "A cartographer.", "personality": "curious", "scenario": "",
            "first_mes": "Hello.", "mes_example": "", "creator_notes": "", "system_prompt": "",
            "post_history_instructions": "", "alternate_greetings": [], "tags": [], "creator": "",
            "character_version": "", "extensions": {}, "group_only_greetings": []}
    body.update(data)
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": body}
