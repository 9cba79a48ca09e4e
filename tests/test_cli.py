"""The ``comfyvn`` command: help texts, flags, settings, jobs (the real diagnostics bundle), paths
and legacy links, ports, base URL, token. Mostly in-process with CliRunner, plus real
``python -m comfyvn`` runs for what goes through ``main()`` (errors, logging)."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from comfyvn import __version__, cli
from comfyvn.config import feature_flags
from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import InvalidInput, NotFound

ROOT = Path(__file__).resolve().parents[1]
CORE_FLAG = "enable_modder_webhooks"


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch):
    """Rich wraps at 80 columns when not on a terminal; give the CLI room so paths stay whole."""
    monkeypatch.setattr(cli, "out", Console(width=250, color_system=None))
    monkeypatch.setattr(cli, "err", Console(width=250, color_system=None, stderr=True))


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli.app, list(args))
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    return invoke


def run_process(runtime_root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m comfyvn ARGS`` in a real subprocess sharing this test's runtime root."""
    full_env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime_root), "COLUMNS": "250",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "comfyvn", *args], env=full_env, cwd=ROOT, capture_output=True,
                          text=True, timeout=90)


def _json_out(text: str):
    return json.loads(text)


# -- help ------------------------------------------------------------------------------------------
def test_root_help_lists_every_command(run):
    result = run("--help")
    text = result.stdout
    assert "turn AI roleplay chats into playable visual novels" in text
    for command in ("version", "serve", "paths", "find-port", "base-url", "doctor", "launch", "flags",
                    "settings", "jobs", "token"):
        assert re.search(rf"^\W*{re.escape(command)}\s", text, re.MULTILINE), command


def test_no_arguments_shows_help(run):
    result = run(ok=False)
    assert "Usage" in result.stdout + result.stderr
    assert "settings" in result.stdout + result.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["flags", "--help"], ["comfyvn.json", "list", "enable", "disable"]),
    (["settings", "--help"], ["settings.json", "get", "set"]),
    (["settings", "set", "--help"], ["JSON value", "bare words are strings", "other sections"]),
    (["settings", "get", "--help"], ["Dotted key", "server.port"]),
    (["jobs", "--help"], ["kinds", "run", "list", "logs"]),
    (["jobs", "run", "--help"], ["--param", "key=value", "--json", "progress bar"]),
    (["paths", "--help"], ["--legacy-links", "DIR", "--ensure", "COMFYVN_RUNTIME_ROOT"]),
    (["serve", "--help"], ["--host", "--port", "free one", "API token"]),
    (["find-port", "--help"], ["--start", "free port"]),
    (["base-url", "--help"], ["where it came from"]),
    (["token", "--help"], ["show", "rotate"]),
    (["doctor", "--help"], ["--base", "JSON report"]),
    (["launch", "--help"], ["--server-only", "--no-server-autostart"]),
])
def test_subcommand_help_explains(run, args, expected):
    text = run(*args).stdout
    for snippet in expected:
        assert snippet in text, snippet


def test_version(run):
    assert run("version").stdout.strip() == __version__


# -- flags -----------------------------------------------------------------------------------------
def _flag_row(text: str, name: str) -> list[str]:
    line = next(line for line in text.splitlines() if f" {name} " in line)
    return [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]


def test_flags_list_enable_disable_round_trip(run, runtime_root):
    assert _flag_row(run("flags", "list").stdout, CORE_FLAG)[:4] == [CORE_FLAG, "off", "off", "core"]
    assert run("flags", "enable", CORE_FLAG).stdout.strip() == f"{CORE_FLAG}: on"
    assert json.loads((runtime_root / "config" / "comfyvn.json").read_text()) == {"features": {CORE_FLAG: True}}
    assert _flag_row(run("flags", "list").stdout, CORE_FLAG)[:4] == [CORE_FLAG, "on", "off", "core"]
    feature_flags._cache = None
    assert feature_flags.is_enabled(CORE_FLAG) is True
    assert run("flags", "disable", CORE_FLAG).stdout.strip() == f"{CORE_FLAG}: off"
    assert feature_flags.is_enabled(CORE_FLAG) is False
    assert _flag_row(run("flags", "list").stdout, CORE_FLAG)[1] == "off"


def test_flags_enable_unknown_in_process_raises_the_typed_error(run, runtime_root):
    result = run("flags", "enable", "no_such_flag", ok=False)
    assert result.exit_code != 0
    assert isinstance(result.exception, feature_flags.UnknownFlag)
    assert not (runtime_root / "config" / "comfyvn.json").exists()


def test_flags_enable_unknown_in_a_real_process(runtime_root):
    done = run_process(runtime_root, "flags", "enable", "no_such_flag")
    assert done.returncode == 1
    assert "error: feature flag 'no_such_flag' is not declared" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    done = run_process(runtime_root, "flags", "enable", CORE_FLAG)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{CORE_FLAG}: on"


def test_error_text_that_looks_like_markup_is_printed_as_is(runtime_root):
    done = run_process(runtime_root, "flags", "disable", "odd[/]name[/bold]")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "feature flag 'odd[/]name[/bold]' is not declared" in done.stderr


# -- settings --------------------------------------------------------------------------------------
def test_settings_set_parses_json_and_keeps_bare_strings(run):
    assert run("settings", "set", "server.port", "9001").stdout.strip() == "server.port = 9001"
    assert run("settings", "set", "ui.theme", "dark").stdout.strip() == 'ui.theme = "dark"'
    run("settings", "set", "ui.panel", '{"width": 3, "docked": true}')
    run("settings", "set", "ui.quoted", '"42"')
    run("settings", "set", "ui.enabled", "false")
    run("settings", "set", "ui.list", "[1, 2]")
    run("settings", "set", "ui.words", "two words")
    assert SettingsManager().stored() == {
        "server": {"port": 9001},
        "ui": {"theme": "dark", "panel": {"width": 3, "docked": True}, "quoted": "42", "enabled": False,
               "list": [1, 2], "words": "two words"},
    }
    assert _json_out(run("settings", "get", "server.port").stdout) == 9001
    assert _json_out(run("settings", "get", "ui.panel").stdout) == {"width": 3, "docked": True}
    everything = _json_out(run("settings", "get").stdout)
    assert everything["server"]["port"] == 9001 and everything["server"]["host"] == "127.0.0.1"


def test_settings_set_keeps_other_sections(run):
    SettingsManager().save({"ui": {"theme": "light", "font": 12}, "other": {"x": 1}})
    run("settings", "set", "ui.theme", "dark")
    assert SettingsManager().stored() == {"ui": {"theme": "dark", "font": 12}, "other": {"x": 1}}


def test_settings_set_value_that_looks_like_markup(run):
    result = run("settings", "set", "ui.label", "[/]")
    assert result.stdout.strip() == 'ui.label = "[/]"'
    assert SettingsManager().get("ui.label") == "[/]"


def test_settings_set_bad_key(run):
    result = run("settings", "set", "a..b", "1", ok=False)
    assert isinstance(result.exception, InvalidInput)
    assert not SettingsManager().path.exists()


def test_settings_get_missing_key(run, runtime_root):
    result = run("settings", "get", "server.nope", ok=False)
    assert isinstance(result.exception, NotFound)
    done = run_process(runtime_root, "settings", "get", "server.nope")
    assert done.returncode == 1
    assert "error: setting 'server.nope' is not set" in done.stderr


def test_settings_set_in_a_real_process(runtime_root):
    done = run_process(runtime_root, "settings", "set", "jobs.workers", "6")
    assert done.returncode == 0, done.stderr
    assert SettingsManager().get("jobs.workers") == 6
    done = run_process(runtime_root, "settings", "get", "jobs")
    assert json.loads(done.stdout) == {"workers": 6, "history_limit": 5000}


# -- jobs ------------------------------------------------------------------------------------------
def test_jobs_kinds_lists_the_diagnostics_job(run):
    text = run("jobs", "kinds").stdout
    line = next(line for line in text.splitlines() if "system.diagnostics" in line)
    assert "thread" in line and "diagnostics" in line


def test_jobs_run_diagnostics_writes_a_redacted_bundle(run, runtime_root, monkeypatch):
    monkeypatch.setenv("COMFYVN_API_TOKEN", "env-token-value")
    SettingsManager().save({
        "server": {"port": 9010},
        "services": {"openai": {"api_key": "sk-live-123", "model": "gpt"}, "hub_token": "tok-456",
                     "accounts": [{"user": "me", "password": "hunter2"}]},
    })
    result = run("jobs", "run", "system.diagnostics")
    summary = _json_out(result.stdout)
    bundle = Path(summary["path"])
    assert bundle.parent == (runtime_root / "data" / "diagnostics").resolve()
    assert bundle.is_file() and summary["bytes"] == bundle.stat().st_size
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert {"system.json", "settings.json"} <= set(names)
        assert summary["files"] == len(names)
        system = json.loads(archive.read("system.json"))
        settings_text = archive.read("settings.json").decode()
    settings = json.loads(settings_text)
    assert settings["server"] == {"port": 9010}
    assert settings["services"]["openai"] == {"api_key": "***", "model": "gpt"}
    assert settings["services"]["hub_token"] == "***"
    assert settings["services"]["accounts"] == [{"user": "me", "password": "***"}]
    for secret in ("sk-live-123", "tok-456", "hunter2"):
        assert secret not in settings_text
    assert system["comfyvn"] == __version__
    assert system["env"]["COMFYVN_API_TOKEN"] == "***"
    assert system["env"]["COMFYVN_RUNTIME_ROOT"] == str(runtime_root)
    assert system["flags"][CORE_FLAG] is False
    assert "diagnostics" in {p["name"] for p in system["plugins"]["plugins"]}
    assert "system.diagnostics" in result.stderr  # the progress bar goes to stderr


def test_jobs_run_then_list_and_logs(run):
    done = _json_out(run("jobs", "run", "system.diagnostics", "-p", "include_logs=false").stdout)
    assert done["files"] == 2
    listing = run("jobs", "list").stdout
    row = next(line for line in listing.splitlines() if "system.diagnostics" in line)
    assert "succeeded" in row and "100%" in row
    short_id = re.search(r"\b([0-9a-f]{12})\b", row).group(1)
    assert "system.diagnostics" not in run("jobs", "list", "--state", "failed").stdout
    logs = run("jobs", "logs", short_id).stdout
    assert f"wrote {done['path']}" in logs.replace("\n", "")


def test_jobs_logs_with_an_unknown_id(run):
    result = run("jobs", "logs", "deadbeef", ok=False)
    assert result.exit_code == 1
    assert "0 jobs match 'deadbeef'" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "novalue"], "--param expects key=value, got 'novalue'"),
    (["-p", "=1"], "--param expects key=value"),
    (["--json", "{broken"], "--json is not valid JSON"),
    (["--json", "[1, 2]"], "--json must be a JSON object"),
])
def test_jobs_run_bad_parameters(run, args, message):
    result = run("jobs", "run", "system.diagnostics", *args, ok=False)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "system.diagnostics" not in run("jobs", "list").stdout  # nothing was run


def test_jobs_run_json_and_param_combine(run):
    done = _json_out(run("jobs", "run", "system.diagnostics", "--json", '{"include_logs": true}',
                         "-p", "include_logs=false").stdout)
    assert done["files"] == 2  # --param wins over --json


def test_jobs_run_unknown_kind_in_process(run):
    result = run("jobs", "run", "no.such.kind", ok=False)
    assert result.exit_code != 0
    assert result.exception is not None and "unknown job kind 'no.such.kind'" in str(result.exception)


def test_jobs_run_errors_in_a_real_process(runtime_root):
    done = run_process(runtime_root, "jobs", "run", "no.such.kind")
    assert done.returncode == 1
    assert "error: unknown job kind 'no.such.kind'" in done.stderr
    assert "system.diagnostics" in done.stderr  # the message lists the known kinds
    assert "Traceback" not in done.stderr
    done = run_process(runtime_root, "jobs", "run", "system.diagnostics", "-p", "max_log_bytes=-5")
    assert done.returncode == 1
    assert "invalid parameter 'max_log_bytes'" in done.stderr
    done = run_process(runtime_root, "jobs", "run", "system.diagnostics", "--param", "oops")
    assert done.returncode == 2
    assert "--param expects key=value" in done.stderr


def test_jobs_run_diagnostics_in_a_real_process(runtime_root):
    SettingsManager().save({"remote": {"password": "p4ss", "host": "h"}})
    done = run_process(runtime_root, "jobs", "run", "system.diagnostics")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    with zipfile.ZipFile(summary["path"]) as archive:
        names = set(archive.namelist())
        assert {"system.json", "settings.json", "logs/system.log"} <= names  # main() set up logging
        assert json.loads(archive.read("settings.json")) == {"remote": {"password": "***", "host": "h"}}
    assert list((runtime_root / "logs").glob("run-*/run.log"))
    listing = run_process(runtime_root, "jobs", "list")
    assert "system.diagnostics" in listing.stdout and "succeeded" in listing.stdout


def test_failing_job_reports_its_error(run, dev_plugins):
    result = run("jobs", "run", "test.fail", "-p", "message=disk [/tmp/x] is full", ok=False)
    assert result.exit_code == 1
    assert "job failed: ValueError: disk [/tmp/x] is full" in result.stderr
    assert "comfyvn jobs logs" in result.stderr
    assert "failed" in run("jobs", "list").stdout


def test_job_log_lines_are_shown_verbatim(run, dev_plugins):
    result = run("jobs", "run", "test.echo", "-p", "tag=[/b]", "-p", "n=3")
    assert _json_out(result.stdout) == {"tag": "[/b]", "n": 3}
    assert "echo {'tag': '[/b]', 'n': 3}" in result.stderr


# -- paths, ports, base URL, token -----------------------------------------------------------------
def test_paths_shows_the_runtime_folders(run, runtime_root):
    text = run("paths").stdout
    for kind in ("logs", "config", "data", "cache", "workspaces"):
        assert str((runtime_root / ("data/workspaces" if kind == "workspaces" else kind)).resolve()) in text
    assert not runtime_root.exists()
    run("paths", "--ensure")
    assert (runtime_root / "data" / "workspaces").is_dir() and (runtime_root / "logs").is_dir()


def test_paths_legacy_links(run, tmp_path, runtime_root):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    result = run("paths", "--legacy-links", str(checkout))
    assert result.stdout.count("created:") == 4
    assert (checkout / "logs").resolve() == (runtime_root / "logs").resolve()
    assert (checkout / "data" / "settings").resolve() == (runtime_root / "config").resolve()
    assert run("paths", "--legacy-links", str(checkout)).stdout.count("exists:") == 4


def test_paths_legacy_links_conflict_exits_1(run, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "cache").mkdir(parents=True)
    (checkout / "cache" / "user-file").write_text("mine")
    (checkout / "logs").write_text("a plain file")
    result = run("paths", "--legacy-links", str(checkout), ok=False)
    assert result.exit_code == 1
    assert result.stdout.count("conflict:") == 2
    assert result.stdout.count("created:") == 2
    assert "move it away" in result.stdout
    assert (checkout / "cache" / "user-file").read_text() == "mine"
    assert (checkout / "logs").read_text() == "a plain file"


def test_paths_legacy_links_in_a_real_process(tmp_path, runtime_root):
    checkout = tmp_path / "checkout"
    (checkout / "data" / "workspaces").mkdir(parents=True)
    done = run_process(runtime_root, "paths", "--legacy-links", str(checkout))
    assert done.returncode == 1
    assert "conflict:" in done.stdout and done.stdout.count("created:") == 3
    assert (checkout / "logs").is_symlink()


def test_find_port_prints_a_free_port(run):
    port = int(run("find-port").stdout.strip())
    assert 8001 <= port < 8101
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        found = int(run("find-port", "--start", str(taken)).stdout.strip())
        assert found > taken
    with socket.socket() as check:
        check.bind(("127.0.0.1", found))


def test_find_port_on_an_unusable_host_fails_cleanly(run):
    result = run("find-port", "--host", "192.0.2.1", "--start", "40000", ok=False)  # not a local address
    assert result.exit_code == 1
    assert "no free port on 192.0.2.1" in result.stderr


def test_base_url_prints_url_and_source(run, monkeypatch):
    assert run("base-url").stdout.split() == ["http://127.0.0.1:8001", "(from", "default)"]
    SettingsManager().set("server.port", 9321)
    assert run("base-url").stdout.split() == ["http://127.0.0.1:9321", "(from", "settings)"]
    monkeypatch.setenv("COMFYVN_BASE_URL", "http://[::1]:7000/")
    assert run("base-url").stdout.split() == ["http://[::1]:7000", "(from", "env:COMFYVN_BASE_URL)"]


def test_token_show_and_rotate(run, runtime_root):
    first = run("token", "show").stdout.strip()
    assert len(first) >= 32
    token_file = runtime_root / "config" / "api_token"
    assert token_file.read_text().strip() == first
    if os.name == "posix":
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert run("token", "show").stdout.strip() == first
    rotated = run("token", "rotate").stdout.strip()
    assert rotated != first and len(rotated) >= 32
    assert run("token", "show").stdout.strip() == rotated


def test_job_kind_and_progress_text_that_look_like_markup(run, tmp_path, monkeypatch):
    from comfyvn.core import plugins
    from comfyvn.core.jobs import UnknownJobKind

    result = run("jobs", "run", "odd[/kind]", ok=False)
    assert isinstance(result.exception, UnknownJobKind)  # not a rich MarkupError
    folder = tmp_path / "dev"
    folder.mkdir()
    (folder / "brackets.py").write_text(
        "from comfyvn.core.jobs import JobKind\n"
        "from comfyvn.core.plugins import hookimpl\n\n"
        "def handler(ctx):\n"
        "    ctx.progress(0.5, 'copying [/art] folder')\n"
        "    return {'ok': True}\n\n"
        "@hookimpl\n"
        "def comfyvn_job_kinds():\n"
        "    return [JobKind('test.brackets', 'comfyvn_dev_plugin_brackets:handler', 'Progress with brackets.')]\n"
    )
    monkeypatch.setenv("COMFYVN_DEV_MODE", "1")
    monkeypatch.setenv("COMFYVN_DEV_PLUGINS_DIR", str(folder))
    plugins.reset()
    result = run("jobs", "run", "test.brackets")
    assert _json_out(result.stdout) == {"ok": True}
    assert "done" in result.stderr


def test_unwritable_log_location_warns_and_continues(tmp_path, runtime_root):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    done = run_process(runtime_root, "settings", "get", "server.port",
                       env={"COMFYVN_LOG_FILE": str(blocker / "system.log")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8001"
    assert "warning: cannot write logs" in done.stderr
    assert "continuing without a log file" in done.stderr
