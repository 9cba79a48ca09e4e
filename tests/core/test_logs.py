"""Logging: JSON lines with ts/level/logger/event/context in a rotating system.log, env settings,
run logs for CLI commands, idempotent setup."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from comfyvn.core import logs

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("restore_root_logger")  # tests/conftest.py


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, logs._HANDLER_MARK, False)]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _flush() -> None:
    for handler in _ours():
        handler.flush()


def test_file_lines_are_json_with_context(runtime_root):
    written = logs.setup_logging(console=False)
    assert written == {"system": (runtime_root / "logs" / "system.log").resolve()}
    log = logging.getLogger("comfyvn.test.json")
    log.warning("Job finished", extra={"job_id": "abc", "duration_sec": 1.5, "path": Path("/x")})
    log.warning("plain %s", "args")
    _flush()
    first, second = _lines(written["system"])
    assert set(first) == {"ts", "level", "logger", "event", "context"}
    assert first["level"] == "WARNING"
    assert first["logger"] == "comfyvn.test.json"
    assert first["event"] == "Job finished"
    assert first["context"] == {"job_id": "abc", "duration_sec": 1.5, "path": "/x"}  # non-JSON via str()
    stamp = dt.datetime.fromisoformat(first["ts"])
    assert stamp.tzinfo is not None and stamp.utcoffset() == dt.timedelta(0)
    assert second["event"] == "plain args"
    assert "context" not in second  # no extra: no context key


def test_exceptions_are_recorded(runtime_root):
    written = logs.setup_logging(console=False)
    try:
        raise ValueError("kaputt")
    except ValueError:
        logging.getLogger("comfyvn.test").exception("It broke", extra={"step": 3})
    _flush()
    (line,) = _lines(written["system"])
    assert line["level"] == "ERROR"
    assert line["context"] == {"step": 3}
    assert "ValueError: kaputt" in line["exc"] and "Traceback" in line["exc"]


def test_unicode_is_written_as_is(runtime_root):
    written = logs.setup_logging(console=False)
    logging.getLogger("comfyvn.test").warning("Szene gespeichert: Ärger 🎬", extra={"title": "夢"})
    _flush()
    raw = written["system"].read_text(encoding="utf-8")
    assert "Ärger 🎬" in raw and "夢" in raw


def test_level_from_env(monkeypatch):
    monkeypatch.setenv("COMFYVN_LOG_LEVEL", "debug")
    assert logs.level_from_env() == logging.DEBUG
    monkeypatch.setenv("COMFYVN_LOG_LEVEL", "ERROR")
    assert logs.level_from_env() == logging.ERROR
    monkeypatch.setenv("COMFYVN_LOG_LEVEL", "chatty")
    assert logs.level_from_env() == logging.INFO
    monkeypatch.delenv("COMFYVN_LOG_LEVEL")
    assert logs.level_from_env() == logging.INFO
    assert logs.level_from_env("WARNING") == logging.WARNING


def test_level_is_applied_to_the_file(runtime_root, monkeypatch):
    monkeypatch.setenv("COMFYVN_LOG_LEVEL", "ERROR")
    written = logs.setup_logging(console=False)
    log = logging.getLogger("comfyvn.test.level")
    log.warning("dropped")
    log.error("kept")
    _flush()
    assert [line["event"] for line in _lines(written["system"])] == ["kept"]
    logs.setup_logging(console=False, level=logging.DEBUG)  # an explicit level wins over the env
    log.debug("now kept")
    _flush()
    assert [line["event"] for line in _lines(written["system"])] == ["kept", "now kept"]


def test_log_file_env_override(tmp_path, monkeypatch, runtime_root):
    target = tmp_path / "custom" / "nested" / "my.log"
    monkeypatch.setenv("COMFYVN_LOG_FILE", str(target))
    assert logs.log_file() == target
    written = logs.setup_logging(console=False)
    assert written["system"] == target
    logging.getLogger("comfyvn.test").warning("to the custom file")
    _flush()
    assert _lines(target)[0]["event"] == "to the custom file"
    assert not (runtime_root / "logs" / "system.log").exists()


def test_setup_is_idempotent_and_leaves_foreign_handlers(runtime_root):
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    logs.setup_logging(console=True)
    logs.setup_logging(console=True)
    written = logs.setup_logging(console=False)
    assert foreign in root.handlers
    ours = _ours()
    assert len(ours) == 1 and isinstance(ours[0], logging.handlers.RotatingFileHandler)
    logging.getLogger("comfyvn.test").warning("once")
    _flush()
    assert [line["event"] for line in _lines(written["system"])] == ["once"]  # not duplicated


def test_rotation_at_max_bytes(runtime_root, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2000)
    monkeypatch.setattr(logs, "BACKUPS", 2)
    written = logs.setup_logging(console=False)
    log = logging.getLogger("comfyvn.test.rotate")
    for i in range(200):
        log.warning("line %d", i, extra={"padding": "x" * 50})
    _flush()
    folder = written["system"].parent
    names = sorted(p.name for p in folder.glob("system.log*"))
    assert names == ["system.log", "system.log.1", "system.log.2"]  # BACKUPS limits the old files
    for path in folder.glob("system.log*"):
        assert path.stat().st_size <= 2000
        assert all(line["logger"] == "comfyvn.test.rotate" for line in _lines(path))  # whole lines only
    assert _lines(written["system"])[-1]["event"] == "line 199"


def test_console_handler_uses_readable_text(runtime_root, capsys):
    logs.setup_logging(console=True)
    logging.getLogger("comfyvn.test.console").warning("Hello console", extra={"job_id": "j1"})
    err = capsys.readouterr().err
    assert "WARNING" in err and "comfyvn.test.console: Hello console" in err and "job_id=j1" in err
    assert not err.lstrip().startswith("{")


def test_run_log_in_process(runtime_root, capsys):
    written = logs.setup_logging(console=True, run_log=True, level=logging.INFO)
    run = written["run"]
    assert run.name == "run.log"
    assert run.parent.parent == (runtime_root / "logs").resolve()
    assert run.parent.name.startswith("run-") and run.parent.name.endswith(f"-{os.getpid()}")
    log = logging.getLogger("comfyvn.test.run")
    log.info("info goes to files only")
    log.warning("warning everywhere", extra={"n": 1})
    _flush()
    assert [line["event"] for line in _lines(run)] == ["info goes to files only", "warning everywhere"]
    assert [line["event"] for line in _lines(written["system"])] == ["info goes to files only", "warning everywhere"]
    err = capsys.readouterr().err
    assert "warning everywhere" in err and "info goes to files only" not in err  # CLI console stays quiet


def test_cli_command_writes_a_run_log(runtime_root):
    """A CLI command in a subprocess leaves <logs>/run-*/run.log with what it logged."""
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root), "COMFYVN_LOG_LEVEL": "INFO",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    settings_file = runtime_root / "config" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text("{broken")  # reading it logs an error with context
    done = subprocess.run([sys.executable, "-m", "comfyvn", "settings", "get", "server.port"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8001"
    runs = list((runtime_root / "logs").glob("run-*/run.log"))
    assert len(runs) == 1
    assert re.fullmatch(r"run-\d{8}-\d{6}-\d+", runs[0].parent.name)
    (line,) = [entry for entry in _lines(runs[0]) if entry["event"] == "Unreadable JSON file moved aside"]
    assert line["level"] == "ERROR" and line["logger"] == "comfyvn.core.store"
    assert line["context"]["path"] == str(settings_file.resolve())
    assert line["context"]["moved_to"].startswith(str(settings_file.resolve()) + ".corrupt-")
    system = _lines(runtime_root / "logs" / "system.log")
    assert any(entry["event"] == "Unreadable JSON file moved aside" for entry in system)
    assert "Unreadable JSON file moved aside" in done.stderr  # errors also reach the console


def test_serve_and_help_do_not_write_run_logs(runtime_root):
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}
    done = subprocess.run([sys.executable, "-m", "comfyvn", "--help"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not list(runtime_root.glob("logs/run-*"))
