"""The one store abstraction: atomic JSON files that several processes can share.

Every file the product writes goes through :func:`atomic_write_bytes` (temp file in the same
directory, fsync, rename, fsync of the directory), so a crash at any point leaves either the old
or the new content, never a torn file. :class:`JsonDocument` adds a cross-process lock and
read-merge-write updates so the Studio, the CLI and the server can edit different sections of
one file without clobbering each other.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from filelock import FileLock

from comfyvn.core.errors import InvalidInput

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30.0


_ORJSON_FILE = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def dumps(obj: Any) -> str:
    """Canonical JSON for files users may version with git: sorted keys, two-space indent.

    orjson writes exactly what ``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)`` does,
    ~20x faster; the standard library takes over for what orjson refuses (integers beyond 64 bits,
    non-string keys, nesting beyond 255 levels)."""
    try:
        return orjson.dumps(obj, option=_ORJSON_FILE).decode("utf-8")
    except TypeError:
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dump_bytes(obj: Any) -> bytes:
    """:func:`dumps` as the UTF-8 bytes a file holds (orjson's own output, no round trip through str)."""
    try:
        return orjson.dumps(obj, option=_ORJSON_FILE)
    except TypeError:
        return dumps(obj).encode("utf-8")


def canonical_bytes(value: Any) -> bytes:
    """Compact JSON with sorted keys, UTF-8: the one form digests are taken of. Non-finite
    numbers are not JSON and are refused (InvalidInput)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InvalidInput(f"value cannot be written as canonical JSON ({exc}); use finite numbers only") from None
    return text.encode("utf-8")


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``canonical_bytes(value)``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


_batch = threading.local()  # folders whose fsync a batch_writes() block does once, at its end


@contextmanager
def batch_writes() -> Iterator[None]:
    """Within the block, atomic writes fsync their files as always but each folder only once, when the
    block ends (a rename is durable once its folder is synced): importing hundreds of files then costs
    one folder sync per folder instead of one per file. Nested blocks join the outer one."""
    if getattr(_batch, "dirs", None) is not None:
        yield
        return
    _batch.dirs = set()
    try:
        yield
    finally:
        dirs, _batch.dirs = _batch.dirs, None
        for directory in sorted(dirs):
            if directory.exists():
                _fsync_dir(directory, now=True)


def _fsync_dir(directory: Path, *, now: bool = False) -> None:
    if os.name != "posix":
        return
    pending = getattr(_batch, "dirs", None)
    if pending is not None and not now:
        pending.add(directory)
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers only ever see the old or the new content."""
    path = Path(path)

    def write(handle: BinaryIO) -> Path:
        handle.write(data)
        return path

    atomic_write_stream(path.parent, write, prefix=path.name, mode=mode)


def atomic_write_stream(folder: Path, write: Callable[[BinaryIO], Path], *, prefix: str = "",
                        mode: int | None = None) -> Path:
    """The general form of :func:`atomic_write_bytes`: ``write(handle)`` fills a temp file in
    ``folder`` (streaming as it likes) and returns the final path, which may depend on what was
    written (a content hash); the file is then fsynced, renamed there (replacing any file) and the
    folder synced. Returns the final path. On any error the temp file is removed. The file keeps
    the permissions of the file it replaces; a new one gets the usual ``0o666 & ~umask`` (a temp
    file alone would be private, 0600), unless ``mode`` is given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            path = Path(write(handle))
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o7777
            except OSError:
                mode = 0o666 & ~_umask()
        os.chmod(tmp_name, mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


_umask_value: int | None = None


def _umask() -> int:
    """The process umask (read once: from /proc where there is one, since setting it to read it
    back briefly changes it for every thread)."""
    global _umask_value
    if _umask_value is None:
        try:
            line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
            _umask_value = int(line.split()[1], 8)
        except (OSError, StopIteration, ValueError):
            _umask_value = os.umask(0o022)
            os.umask(_umask_value)
    return _umask_value


def atomic_write_json(path: Path, obj: Any, *, mode: int | None = None) -> bytes:
    """Write ``obj`` as canonical JSON (:func:`dumps`) atomically; the bytes written."""
    try:
        data = dump_bytes(obj)
    except RecursionError:
        raise InvalidInput(f"cannot save {Path(path).name}: the data is nested too deeply") from None
    except ValueError as exc:  # e.g. a circular reference, text that is not UTF-8 (lone surrogates)
        raise InvalidInput(f"cannot save {Path(path).name}: {exc}") from None
    atomic_write_bytes(path, data, mode=mode)
    return data


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file; a missing file gives ``default``.

    A file that does not parse is renamed aside (``<name>.corrupt-<unix time>``, plus ``-<n>`` if
    that name is taken) and logged, then ``default`` is returned: the user's data is kept for
    inspection and the product keeps working.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return copy.deepcopy(default)
    try:
        return json.loads(raw)
    except ValueError as exc:
        stamp = int(time.time())
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        counter = 0
        while aside.exists():  # never overwrite an earlier corrupt copy
            counter += 1
            aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:  # another reader moved it aside first
            return copy.deepcopy(default)
        log.error(
            "Unreadable JSON file moved aside",
            extra={"path": str(path), "moved_to": str(aside), "error": str(exc)},
        )
        return copy.deepcopy(default)


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated with ``patch``: nested objects merge, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def get_path(data: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """Look up ``a.b.c`` in nested mappings."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def nest(dotted: str, value: Any) -> dict[str, Any]:
    """``nest("a.b", 1) == {"a": {"b": 1}}``."""
    parts = dotted.split(".")
    if not all(parts):
        raise ValueError(f"invalid key {dotted!r}: empty segment")
    result: Any = value
    for part in reversed(parts):
        result = {part: result}
    return result


class JsonDocument:
    """A JSON object stored in one file, shared safely between threads and processes."""

    def __init__(self, path: Path, *, mode: int | None = None) -> None:
        self.path = Path(path)
        self.mode = mode
        self._lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")), timeout=LOCK_TIMEOUT_SECONDS)

    def read(self) -> dict[str, Any]:
        data = read_json(self.path, default={})
        if not isinstance(data, dict):
            log.error("JSON document is not an object; ignoring it", extra={"path": str(self.path)})
            return {}
        return data

    def mutate(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        """Read the latest content under the lock, apply ``change`` and write it back atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = self.read()
            result = change(data)
            if result is not None:
                data = result
            atomic_write_json(self.path, data, mode=self.mode)
            return data

    def update(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge ``patch`` into the stored object; unrelated sections are left untouched."""
        return self.mutate(lambda data: deep_merge(data, patch))


class Staging:
    """A set of file writes undone together: on an exception inside ``with Staging() as staging``
    every write is undone (new files removed, replaced ones restored), then the error goes on.
    Each write is itself atomic; ``on_undo`` registers the undo of any other change."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            return
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # keep undoing the rest; the original error is what the caller sees
                log.exception("undo after a failed change did not complete")

    def on_undo(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def _remember(self, path: Path) -> None:
        old = path.read_bytes() if path.exists() else None
        self.on_undo((lambda: atomic_write_bytes(path, old)) if old is not None
                     else (lambda: path.unlink(missing_ok=True)))

    def write(self, path: Path, content: bytes | Any) -> None:
        """Write bytes, or JSON for anything else."""
        self._remember(path)
        if isinstance(content, bytes):
            atomic_write_bytes(path, content)
        else:
            atomic_write_json(path, content)

    def remove(self, path: Path) -> None:
        if path.exists():
            self._remember(path)
            path.unlink()
