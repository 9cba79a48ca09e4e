"""Reading the files of a library safely (POST /st/import, ``comfyvn import``, the import job).

A path names anything on the machine: reading ``/dev/zero`` never ends, a FIFO blocks forever, and
a symbolic link in a downloaded SillyTavern folder can point at ``/etc/shadow``. So a file is read
only when

- it is a regular file (``lstat`` first, then ``fstat`` of what was opened: FIFOs, devices and
  sockets are skipped with the reason, and nothing but a regular file is ever opened for reading);
- it is at most ``limit`` bytes (the server's body limit, ``server.max_body_bytes``: a file the
  server would refuse as an upload is not read from disk either), checked before reading and
  enforced while reading (a file growing meanwhile);
- with ``within`` (the library folder being imported), its real path - every symbolic link
  followed - is inside that folder: links within the folder are followed, links leaving it are not.

``Skip`` carries the reason; the importer reports the file as skipped, not failed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

LIMIT_SETTING = "server.max_body_bytes"
_CHUNK = 1024 * 1024
# never block on open (a FIFO swapped in), never follow a link swapped in, never become a terminal's owner
_OPEN_FLAGS = os.O_RDONLY
for _flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_NOCTTY", "O_BINARY"):
    _OPEN_FLAGS |= getattr(os, _flag, 0)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class Skip(Exception):
    """A file that was not read, and why (a sentence fragment: "a FIFO (named pipe), not a regular file")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def body_limit() -> int:
    """The server's request-body limit in bytes (read from the settings each call: once per import)."""
    from comfyvn.config.settings import SettingsManager

    return int(SettingsManager().get(LIMIT_SETTING))


def kind_of(mode: int) -> str:
    """What a file is, in words ("a character device"); "a regular file" or "a special file"."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def too_large(size: int, limit: int, setting: bool = True) -> Skip:
    """``setting``: the limit is the body limit (the message names the setting that raises it)."""
    where = f" (setting {LIMIT_SETTING})" if setting else ""
    return Skip(f"{size} bytes, larger than the limit of {limit} bytes{where}")


def check(path: Path, within: Path | None = None) -> tuple[Path, os.stat_result]:
    """(the real path, its ``lstat``) of the regular file ``path`` leads to; Skip saying why it is
    not one, or why it is not followed (a link leaving ``within``, a broken link). Opens nothing."""
    try:
        own = os.lstat(path)
    except FileNotFoundError:
        raise Skip("it no longer exists") from None
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, a link loop
        raise Skip("a broken symbolic link" if stat.S_ISLNK(own.st_mode) else "it no longer exists") from None
    if within is not None and not real.is_relative_to(within.resolve()):
        raise Skip(f"a symbolic link (or linked folder) leading outside the imported folder {within.name or within}")
    info = os.lstat(real)
    if not stat.S_ISREG(info.st_mode):
        raise Skip(f"{kind_of(info.st_mode)}, not a regular file")
    return real, info


def read(path: Path, limit: int, within: Path | None = None, *, setting: bool = True) -> bytes:
    """The bytes of the regular file at ``path`` (see the module docstring); Skip otherwise.
    OSError (permission denied...) propagates: that is a failure, not a skip. ``setting``: see
    ``too_large``."""
    real, checked = check(path, within)
    if checked.st_size > limit:
        raise too_large(checked.st_size, limit, setting)
    fd = os.open(real, _OPEN_FLAGS)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino) or not stat.S_ISREG(opened.st_mode):
            raise Skip("it was replaced while being read")  # a swapped link or file between check and open
        if opened.st_size > limit:
            raise too_large(opened.st_size, limit, setting)
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise too_large(max(total, os.fstat(fd).st_size), limit, setting)
        return b"".join(chunks)
    finally:
        os.close(fd)
