"""CHARX: a zip holding ``card.json`` at its root and the card's assets, addressed from the card
as ``embeded://<path in the zip>`` (sic; ``embedded://`` is accepted too).

Everything is read in memory, never extracted to disk, and only the members the card asks for.
Limits, checked on the sizes the zip declares before anything is inflated and again on what
comes out: at most 50 MB per member, 256 MB in all, inflation ratio at most 100:1 for members
over 1 MB (zip bombs), at most 10,000 members.
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib

from comfyvn.roleplay.transcript import Problem, UnreadableLog

FORMAT = "card.charx"
SIGNATURE = b"PK\x03\x04"
MAX_MEMBER = 50 * 1024 * 1024
MAX_TOTAL = 256 * 1024 * 1024
MAX_RATIO = 100
MAX_MEMBERS = 10_000
URI_PREFIXES = ("embeded://", "embedded://")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
               RuntimeError, zlib.error, lzma.LZMAError, KeyError, IndexError, OverflowError)


class Charx:
    """An opened CHARX archive; ``card_json()`` then ``asset(uri)`` for each embedded asset."""

    def __init__(self, data: bytes, name: str = "") -> None:
        self.where = name or "the CHARX file"
        self.read_total = 0
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except _ZIP_ERRORS as exc:
            raise UnreadableLog(f"{self.where}: not a readable zip archive ({exc})", format=FORMAT) from None
        if len(infos) > MAX_MEMBERS:
            raise UnreadableLog(f"{self.where}: {len(infos)} files in the archive; at most {MAX_MEMBERS} are "
                                "accepted", format=FORMAT)
        self.members = {info.filename: info for info in infos if not info.is_dir()}

    def card_json(self) -> bytes:
        info = self.members.get("card.json")
        if info is None:
            raise UnreadableLog(f"{self.where}: a zip without card.json at its root is not a CHARX card "
                                f"(found: {', '.join(sorted(self.members)[:5]) or 'no files'})",
                                format=FORMAT, field="card.json")
        try:
            return self._read(info)
        except ValueError as exc:
            raise UnreadableLog(f"{self.where}: card.json {exc}", format=FORMAT, field="card.json") from None

    def asset(self, uri: str, problems: list[Problem], field: str) -> bytes | None:
        """The bytes an ``embeded://`` uri points at; None (with a problem) when missing or refused."""
        path = uri
        for prefix in URI_PREFIXES:
            if uri.lower().startswith(prefix):
                path = uri[len(prefix):]
                break
        path = path.replace("\\", "/").lstrip("/")
        path = path.removeprefix("./")
        info = self.members.get(path)
        if info is None:
            problems.append(Problem(f"asset {uri!r} is not in the archive: kept without its file", field=field))
            return None
        try:
            return self._read(info)
        except ValueError as exc:
            problems.append(Problem(f"asset {uri!r} {exc}: kept without its file", field=field))
            return None

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes; ValueError (a phrase for the caller's message) when refused."""
        size, packed = info.file_size, info.compress_size
        if size > MAX_MEMBER:
            raise ValueError(f"is {size} bytes; the limit is {MAX_MEMBER} per file")
        if size > 1024 * 1024 and (packed <= 0 or size / packed > MAX_RATIO):
            raise ValueError(f"inflates {packed} bytes to {size} (a zip bomb?); refused")
        if self.read_total + size > MAX_TOTAL:
            raise ValueError(f"would take the archive past {MAX_TOTAL} bytes read; refused")
        try:
            with self.zip.open(info) as member:
                data = member.read(size + 1)
        except _ZIP_ERRORS as exc:
            raise ValueError(f"cannot be read ({type(exc).__name__}: {exc})") from None
        if len(data) > size:
            raise ValueError("holds more data than the archive declares; refused")
        self.read_total += len(data)
        return data
