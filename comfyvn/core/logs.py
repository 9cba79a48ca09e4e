"""The one logging setup: JSON lines in a rotating ``system.log``, readable text on the console.

Each file line is a JSON object ``{"ts", "level", "logger", "event", "context", ...}`` where
``event`` is the log message and ``context`` holds whatever was passed as ``extra=``::

    log.info("Job finished", extra={"job_id": job_id, "duration_sec": 1.2})

Environment: ``COMFYVN_LOG_LEVEL`` (default INFO) and ``COMFYVN_LOG_FILE`` (default
``<logs>/system.log``). CLI runs also write ``<logs>/run-<time>-<pid>/run.log``; the Studio
writes ``<logs>/gui.log`` (:func:`add_log_file`). The server lists and serves these files at
``GET /api/logs`` (``comfyvn.server.routes.logs``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_HANDLER_MARK = "_comfyvn_handler"
_EXTRA_MARK = "_comfyvn_extra_log"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        context = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
        if context:
            line["context"] = context
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
        if context:
            text += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return text


def level_from_env(default: str = "INFO") -> int:
    name = os.environ.get("COMFYVN_LOG_LEVEL", default).upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def log_file() -> Path:
    explicit = os.environ.get("COMFYVN_LOG_FILE")
    return Path(explicit).expanduser() if explicit else runtime_paths.log_dir() / "system.log"


def _mark(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _HANDLER_MARK, True)
    return handler


def setup_logging(*, console: bool = True, run_log: bool = False, level: int | None = None) -> dict[str, Path]:
    """Install the handlers (idempotent: earlier ComfyVN handlers are replaced).

    Returns the paths written: ``{"system": ..., "run": ...}``.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    level = level if level is not None else level_from_env()
    root.setLevel(level)
    written: dict[str, Path] = {}

    system = log_file()
    system.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(system, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter())
    root.addHandler(_mark(file_handler))
    written["system"] = system

    if run_log:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = runtime_paths.log_dir() / f"run-{stamp}-{os.getpid()}"
        run_dir.mkdir(parents=True, exist_ok=True)
        run_handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
        run_handler.setFormatter(JsonFormatter())
        root.addHandler(_mark(run_handler))
        written["run"] = run_dir / "run.log"

    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(ConsoleFormatter())
        stream.setLevel(max(level, logging.WARNING) if run_log else level)
        root.addHandler(_mark(stream))
    return written


def add_log_file(file_name: str, *, console: bool = False, level: int | None = None) -> logging.Handler:
    """Also write this process's records to ``<logs>/<file_name>`` (JSON lines, rotated like
    system.log); kept when :func:`setup_logging` runs later. Idempotent per file: the handler
    already installed is returned. ``console`` adds warnings on stderr too (the handler would
    otherwise silence Python's last-resort console output).

    The Studio calls ``add_log_file("gui.log", console=True)`` at start. Remove with
    ``logging.getLogger().removeHandler(handler); handler.close()``.
    """
    path = runtime_paths.log_dir() / file_name
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, _EXTRA_MARK, None) == str(path):
            return handler
    level = level if level is not None else level_from_env()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)
    setattr(handler, _EXTRA_MARK, str(path))
    if console and not any(getattr(h, _EXTRA_MARK, None) == "console" for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(ConsoleFormatter())
        stream.setLevel(max(level, logging.WARNING))
        setattr(stream, _EXTRA_MARK, "console")
        root.addHandler(stream)
    root.addHandler(handler)
    if root.level > level:
        root.setLevel(level)
    return handler


def readable_line(raw: str) -> tuple[str, str, dict[str, Any]]:
    """``(text, logger, context)`` of one file line: JSON lines as ``HH:MM:SS LEVEL logger: event
    key=value`` (a traceback below), anything else unchanged."""
    try:
        record = json.loads(raw) if raw.startswith("{") else None
    except ValueError:
        record = None
    if not isinstance(record, dict) or "event" not in record:
        return raw, "", {}
    try:
        stamp = dt.datetime.fromisoformat(str(record.get("ts"))).astimezone().strftime("%H:%M:%S")
    except ValueError:
        stamp = "--:--:--"
    logger = str(record.get("logger") or "")
    context = record.get("context") if isinstance(record.get("context"), dict) else {}
    text = f"{stamp} {record.get('level', '')} {logger}: {record['event']}"
    if context:
        text += " " + " ".join(f"{key}={value}" for key, value in context.items())
    if record.get("exc"):
        text += "\n" + "\n".join("    " + line for line in str(record["exc"]).splitlines())
    return text, logger, context
