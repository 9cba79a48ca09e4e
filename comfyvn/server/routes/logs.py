"""The server's log files over HTTP: list them and read them by byte offset (tail -f for clients).

``GET /api/logs`` lists every ``*.log`` / ``*.log.N`` file under the log folder (sub-folders too:
``export/*.log``, ``run-*/run.log``), newest first. ``GET /api/logs/{name}`` reads one from a byte
offset, whole lines only, so a client tails a file by asking again from ``next_offset``.

Names are relative to the log folder and must stay inside it: no ``..``, no absolute paths, no
symlinks leading out. Anything else is 404, like a file that does not exist. The routes are plain
``def`` functions, so FastAPI runs the file reads in its worker threads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fastapi import Query

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/logs", tags=["logs"])

DEFAULT_LIMIT = 64 * 1024
MAX_LIMIT = 1024 * 1024
MAX_TAIL = 10_000
LOG_NAME = re.compile(r".+\.log(\.\d+)?")


def _root() -> Path:
    return runtime_paths.log_dir().resolve()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (OSError, ValueError):
        return False
    return True


def list_logs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every log file under ``root`` (default: the log folder), newest first."""
    root = root or _root()
    found: list[dict[str, Any]] = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):  # does not follow symlinked folders
        dirs.sort()
        for file_name in sorted(files):
            path = Path(folder, file_name)
            if not LOG_NAME.fullmatch(file_name) or not _inside(path, root):
                continue
            try:
                stat = path.stat()
            except OSError:  # rotated away between the listing and the stat
                continue
            found.append({"name": path.relative_to(root).as_posix(), "size": stat.st_size,
                          "mtime": round(stat.st_mtime, 3)})
    found.sort(key=lambda entry: (-entry["mtime"], entry["name"]))
    return found


def resolve_log(name: str, root: Path | None = None) -> Path:
    """The file behind a listed ``name``; :class:`NotFound` for anything else."""
    root = root or _root()
    missing = NotFound(f"log file '{name}' was not found; GET /api/logs lists them", details={"name": name})
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or Path(name).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise missing
    if ":" in parts[0] or not LOG_NAME.fullmatch(parts[-1]):
        raise missing
    path = root.joinpath(*parts)
    if not _inside(path, root) or not path.is_file():
        raise missing
    return path.resolve()


def _split(chunk: bytes) -> list[str]:
    return [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in chunk.split(b"\n")]


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}-{stat.st_ino}"  # a rotated log is a new file under the old name


def read_forward(path: Path, offset: int, limit: int, file_id: str | None = None) -> dict[str, Any]:
    """Whole lines from byte ``offset``, at most ``limit`` bytes. Reading starts again at 0 when the
    file was rotated since: it shrank below ``offset``, or it is not the file ``file_id`` named."""
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        size, identity = stat.st_size, _identity(stat)
        rotated = offset > size or (file_id is not None and file_id != identity)
        start = 0 if rotated else offset
        handle.seek(start)
        chunk = handle.read(limit)
    cut = chunk.rfind(b"\n")
    if cut >= 0:
        body, next_offset = chunk[:cut], start + cut + 1
    elif len(chunk) >= limit:  # one line longer than limit: hand it over in pieces
        body, next_offset = chunk, start + len(chunk)
    else:  # only a line still being written (or nothing): wait for its end
        body, next_offset = b"", start
    lines = _split(body) if next_offset > start else []
    return {"offset": start, "next_offset": next_offset, "size": size, "lines": lines,
            "truncated": next_offset < size and len(chunk) >= limit, "rotated": rotated, "file_id": identity}


def read_tail(path: Path, count: int, limit: int) -> dict[str, Any]:
    """The last ``count`` whole lines, looking back at most ``limit`` bytes."""
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        size, identity = stat.st_size, _identity(stat)
        start = max(0, size - limit)
        handle.seek(start)
        chunk = handle.read(size - start)
    body = chunk[: chunk.rfind(b"\n") + 1]  # whole lines only ("" when there is no newline)
    end = start + len(body)
    skipped = start > 0
    if skipped:  # the first piece is the end of a line that started before the window
        body = body[body.find(b"\n") + 1:]
    raw = body.split(b"\n")[:-1]
    if len(raw) > count:
        raw, skipped = raw[-count:], True
    begin = end - sum(len(line) + 1 for line in raw)
    lines = [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in raw]
    return {"offset": begin, "next_offset": end, "size": size, "lines": lines, "truncated": skipped,
            "rotated": False, "file_id": identity}


@router.get("", summary="The server's log files, newest first")
def logs_index() -> dict[str, Any]:
    """``{"folder": ..., "logs": [{"name", "size", "mtime"}]}``; ``name`` is relative to the log
    folder (``system.log``, ``system.log.1``, ``export/<id>.log``, ``run-.../run.log``)."""
    return {"folder": str(_root()), "logs": list_logs()}


@router.get("/{name:path}", summary="Whole lines of one log file from a byte offset (or its tail)")
def read_log(
    name: str,
    offset: int = Query(0, description="Byte offset to read from; -1 = the last `tail` lines."),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many bytes."),
    tail: int | None = Query(None, ge=1, le=MAX_TAIL, description="The last N lines (implies offset=-1)."),
    file_id: str | None = Query(None, max_length=64, description="The `file_id` of the previous answer: "
                                "a different file under this name (rotated) is read from 0."),
) -> dict[str, Any]:
    """Answers ``{name, offset, next_offset, size, lines, truncated, rotated, file_id}``: ask again with
    ``offset=next_offset&file_id=<file_id>`` to follow the file. ``truncated`` says more lines wait (forward reads)
    or earlier lines were left out (tail reads); ``rotated`` says the file shrank below ``offset``
    or is another file than ``file_id`` (it was rotated) and reading restarted at 0."""
    if offset < -1:
        raise InvalidInput(f"offset must be a byte offset >= 0, or -1 for the tail (got {offset})",
                           details={"offset": offset})
    path = resolve_log(name)
    if tail is not None or offset == -1:
        answer = read_tail(path, tail or 200, limit)
    else:
        answer = read_forward(path, offset, limit, file_id)
    return {"name": name, **answer}
