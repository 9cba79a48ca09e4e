"""The viewer: launch an exported game in Ren'Py, track the process, stop it cleanly.

Which game: ``project_path`` in the request, else ``COMFYVN_RENPY_PROJECT_DIR``, else the default
export folder of the default project. Which Ren'Py: ``renpy_executable`` / ``renpy_sdk`` in the
request, else ``COMFYVN_RENPY_EXECUTABLE`` / ``COMFYVN_RENPY_SDK`` / Debian's (see renpy_tool).
One game at a time per server; starting another stops the first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core.errors import Conflict, InvalidInput
from comfyvn.export import renpy_tool

STOP_GRACE_SECONDS = 5.0

_lock = threading.Lock()
_process: subprocess.Popen[bytes] | None = None
_info: dict[str, Any] = {}


def _game_dir(project_path: str | None) -> Path:
    from comfyvn.export.service import default_out

    path = Path(project_path or os.environ.get("COMFYVN_RENPY_PROJECT_DIR") or default_out("default"))
    if not (path / "game").is_dir():
        raise InvalidInput(f"{path} is not a Ren'Py project (no game/ folder): export one first with "
                           "`comfyvn export renpy`, or pass project_path", code="not_a_game",
                           details={"project_path": str(path)})
    return path


def _renpy(renpy_executable: str | None, renpy_sdk: str | None) -> renpy_tool.RenPy:
    """The Ren'Py the request names (422 naming the field when it is unusable: the caller's input),
    else the configured one (503 when there is none: the server's setup)."""
    if renpy_executable or renpy_sdk:
        field = "renpy_sdk" if renpy_sdk else "renpy_executable"
        try:
            found = renpy_tool.find_renpy(sdk=renpy_sdk, executable=renpy_executable)
        except renpy_tool.RenPyMissing as exc:
            raise InvalidInput(f"{field} {renpy_sdk or renpy_executable!r} is not a usable Ren'Py: {exc.message}",
                               code="invalid_renpy", details={"field": field, **exc.details}) from None
        if found is not None:
            return found
    return renpy_tool.require_renpy()


def start(*, project_path: str | None = None, renpy_executable: str | None = None,
          renpy_sdk: str | None = None) -> dict[str, Any]:
    """Launch the game (stopping one already running); returns the status."""
    global _process, _info
    game = _game_dir(project_path)
    renpy = _renpy(renpy_executable, renpy_sdk)
    stop()
    log_path = runtime_paths.log_dir() / "viewer.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        with open(log_path, "ab") as log:
            _process = subprocess.Popen(renpy.argv(str(game)), cwd=game, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        _info = {"project_path": str(game), "renpy": renpy.source, "started_at": time.time(), "pid": _process.pid,
                 "log": str(log_path)}
    return status()


def status() -> dict[str, Any]:
    with _lock:
        if _process is None:
            return {"running": False}
        code = _process.poll()
        return {**_info, "running": code is None, "exit_code": code}


def stop() -> dict[str, Any]:
    """Stop the game: SIGTERM to its process group, SIGKILL after a grace period."""
    global _process
    with _lock:
        process = _process
        if process is None or process.poll() is not None:
            return {**_info, "running": False, "exit_code": None if process is None else process.returncode}
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_GRACE_SECONDS)
        except ProcessLookupError:
            pass
        if process.poll() is None:
            raise Conflict("the game did not stop; end it by hand", details={"pid": process.pid})
        return {**_info, "running": False, "exit_code": process.returncode}
