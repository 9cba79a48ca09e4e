"""The one logging setup: JSON lines in a rotating ``system.log``, readable text on the console.

Each file line is a JSON object ``{"ts", "level", "logger", "event", "context", ...}`` where
``event`` is the log message and ``context`` holds whatever was passed as ``extra=``::

    log.info("Job finished", extra={"job_id": job_id, "duration_sec": 1.2})

Environment: ``COMFYVN_LOG_LEVEL`` (default INFO) and ``COMFYVN_LOG_FILE`` (default
``<logs>/system.log``). CLI runs also write ``<logs>/run-<time>-<pid>/run.log``.
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
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
