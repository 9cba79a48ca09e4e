"""The ``comfyvn`` command (also ``python -m comfyvn``)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from comfyvn import __version__
from comfyvn.core.errors import ComfyVNError
from comfyvn.export import bundle_cli
from comfyvn.export import cli as export_cli
from comfyvn.roleplay import cli as roleplay_cli
from comfyvn.scenario import cli as scenario_cli

app = typer.Typer(
    name="comfyvn",
    help="ComfyVN: turn AI roleplay chats into playable visual novels.\n\n"
    "Run `comfyvn serve` for the API server, or `python run_comfyvn.py` to set up and start everything.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
flags_app = typer.Typer(help="List and switch feature flags (stored in <config>/comfyvn.json).", no_args_is_help=True)
settings_app = typer.Typer(help="Read and change settings (<config>/settings.json).", no_args_is_help=True)
jobs_app = typer.Typer(help="Run jobs in this process with a progress bar, or inspect the job history.",
                       no_args_is_help=True)
token_app = typer.Typer(help="The API token needed when the server listens beyond loopback.", no_args_is_help=True)
app.add_typer(flags_app, name="flags")
app.add_typer(settings_app, name="settings")
app.add_typer(jobs_app, name="jobs")
app.add_typer(token_app, name="token")
app.add_typer(scenario_cli.app, name="scenario")
app.add_typer(export_cli.app, name="export")
app.command("make")(export_cli.make_command)
app.command("bundle")(bundle_cli.bundle_command)
app.command("import")(roleplay_cli.import_command)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _plain(text: str) -> None:
    """Print text as-is (no rich markup: paths and URLs may contain brackets)."""
    out.print(text, markup=False, highlight=False)


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


@app.command()
def version() -> None:
    """Print the ComfyVN version."""
    out.print(__version__)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="COMFYVN_SERVER_HOST", help="Address to listen on. Anything "
                             "but loopback requires the API token."),
    port: int = typer.Option(8001, envvar="COMFYVN_SERVER_PORT", help="Port; 0 picks a free one."),
    app_path: str = typer.Option("comfyvn.server.app:create_app", "--app", envvar="COMFYVN_SERVER_APP",
                                 help="ASGI app import path (module:attribute)."),
    factory: Optional[bool] = typer.Option(None, "--factory/--no-factory",
                                           help="Treat --app as a factory (default: yes for the built-in app)."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
    log_level: Optional[str] = typer.Option(None, envvar="COMFYVN_SERVER_LOG_LEVEL", help="uvicorn log level."),
) -> None:
    """Run the API server in the foreground."""
    from comfyvn.server.serve import PortInUse
    from comfyvn.server.serve import serve as run_server

    try:
        run_server(host=host, port=port, app=app_path, factory=factory, reload=reload, log_level=log_level,
                   echo=_plain)
    except PortInUse as exc:
        _fail(str(exc))


@app.command()
def paths(
    ensure: bool = typer.Option(False, help="Create the folders."),
    legacy_links: Optional[str] = typer.Option(None, metavar="DIR",
                                               help="Also create logs/, cache/, data/workspaces and data/settings "
                                               "links inside DIR (e.g. your checkout)."),
) -> None:
    """Show where logs, config, data and cache live (see COMFYVN_RUNTIME_ROOT and friends)."""
    from pathlib import Path

    from comfyvn.config import runtime_paths

    found = runtime_paths.ensure_dirs() if ensure else runtime_paths.all_paths()
    table = Table("kind", "path")
    for kind, path in found.items():
        table.add_row(kind, escape(str(path)))
    out.print(table)
    if legacy_links:
        problems = 0
        for result in runtime_paths.legacy_links(Path(legacy_links)):
            style = {"created": "green", "conflict": "yellow", "unsupported": "yellow"}.get(result.status, "dim")
            out.print(f"[{style}]{result.status}[/]: {escape(result.message)}")
            problems += result.status == "conflict"
        if problems:
            raise typer.Exit(1)


@app.command("find-port")
def find_port(host: str = typer.Option("127.0.0.1"), start: int = typer.Option(8001)) -> None:
    """Print the first free port from --start on."""
    from comfyvn.config.baseurl_authority import find_open_port

    try:
        out.print(find_open_port(host, start))
    except OSError as exc:
        _fail(str(exc))


@app.command("base-url")
def base_url() -> None:
    """Print the server URL clients will use, and where it came from."""
    from comfyvn.config.baseurl_authority import resolve

    found = resolve()
    out.print(f"{escape(found.url)}  [dim](from {escape(found.source)})[/]")


@app.command()
def doctor(
    base: Optional[str] = typer.Option(None, help="Server URL (default: the resolved base URL)."),
    token: Optional[str] = typer.Option(None, envvar="COMFYVN_API_TOKEN", help="API token for remote servers."),
    timeout: float = typer.Option(5.0, help="Seconds per probe."),
) -> None:
    """Probe a running server and this machine; prints a JSON report, exits 1 if any probe fails."""
    from comfyvn.diagnostics.probes import run_doctor

    report = run_doctor(base, token=token, timeout=timeout)
    _json(report)
    if not report["ok"]:
        raise typer.Exit(1)


@app.command()
def launch(
    server_only: bool = typer.Option(False, "--server-only", help="Run only the server, in the foreground."),
    server_host: Optional[str] = typer.Option(None, envvar="COMFYVN_SERVER_HOST", help="Server bind address."),
    server_port: Optional[int] = typer.Option(None, envvar="COMFYVN_SERVER_PORT", help="Server port."),
    server_url: Optional[str] = typer.Option(None, help="Connect the Studio to this server instead of starting one."),
    no_server_autostart: bool = typer.Option(False, "--no-server-autostart",
                                             help="Do not start a local server (also COMFYVN_SERVER_AUTOSTART=0)."),
    server_reload: bool = typer.Option(False, "--server-reload", help="Auto-reload the server on code changes."),
    uvicorn_app: Optional[str] = typer.Option(None, envvar="COMFYVN_SERVER_APP", help="ASGI app import path."),
    uvicorn_factory: bool = typer.Option(False, "--uvicorn-factory", help="Treat --uvicorn-app as a factory."),
    legacy_links: Optional[str] = typer.Option(None, metavar="DIR", help="Make logs/, cache/, data/workspaces and "
                                               "data/settings links in DIR (run_comfyvn.py passes the checkout)."),
) -> None:
    """What run_comfyvn.py runs once set up: probe the machine, start the server, open the Studio."""
    from pathlib import Path

    from comfyvn.launcher import LaunchOptions, run

    code = run(LaunchOptions(
        server_only=server_only, server_host=server_host, server_port=server_port, server_url=server_url,
        no_server_autostart=no_server_autostart, server_reload=server_reload, uvicorn_app=uvicorn_app,
        uvicorn_factory=uvicorn_factory, legacy_links=Path(legacy_links) if legacy_links else None,
    ), echo=_plain)
    raise typer.Exit(code)


# -- flags ---------------------------------------------------------------------------------------
@flags_app.command("list")
def flags_list() -> None:
    """Every declared flag with its owner, default and current value."""
    from comfyvn.config import feature_flags

    table = Table("flag", "enabled", "default", "owner", "description")
    for flag in feature_flags.snapshot():
        table.add_row(flag["name"], "on" if flag["enabled"] else "off", "on" if flag["default"] else "off",
                      flag["owner"], flag["description"])
    out.print(table)


def _set_flag(name: str, value: bool) -> None:
    from comfyvn.config import feature_flags

    result = feature_flags.set_enabled(name, value)
    out.print(f"{result['name']}: {'on' if result['enabled'] else 'off'}")


@flags_app.command("enable")
def flags_enable(name: str) -> None:
    """Switch a flag on (persisted)."""
    _set_flag(name, True)


@flags_app.command("disable")
def flags_disable(name: str) -> None:
    """Switch a flag off (persisted)."""
    _set_flag(name, False)


# -- settings ------------------------------------------------------------------------------------
@settings_app.command("get")
def settings_get(key: Optional[str] = typer.Argument(None, help="Dotted key, e.g. server.port")) -> None:
    """Print all settings, or one dotted key."""
    from comfyvn.config.settings import SettingsManager

    _json(SettingsManager().get(key))


@settings_app.command("set")
def settings_set(key: str, value: str = typer.Argument(..., help="A JSON value (bare words are strings).")) -> None:
    """Set one dotted key; other sections of the file are left as they are."""
    from comfyvn.config.settings import SettingsManager

    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    SettingsManager().set(key, parsed)
    out.print(f"{key} = {json.dumps(parsed)}", markup=False)


# -- jobs ----------------------------------------------------------------------------------------
def _job_manager() -> Any:
    from comfyvn.config import runtime_paths
    from comfyvn.core.job_store import JobStore
    from comfyvn.core.jobs import JobManager
    from comfyvn.server.app import JOBS_DB

    runtime_paths.ensure_dirs()
    return JobManager(JobStore(runtime_paths.data_dir() / JOBS_DB))


@jobs_app.command("kinds")
def jobs_kinds() -> None:
    """Job kinds this installation can run."""
    from comfyvn.core import plugins

    table = Table("kind", "isolation", "owner", "description")
    for name, kind in sorted(plugins.job_kinds().items()):
        table.add_row(name, kind.isolation, kind.owner, kind.description)
    out.print(table)


@jobs_app.command("run")
def jobs_run(
    kind: str,
    param: list[str] = typer.Option([], "--param", "-p", help="key=value (value parsed as JSON when it can be)."),
    params_json: Optional[str] = typer.Option(None, "--json", help="All parameters as one JSON object."),
) -> None:
    """Run a job here, with a progress bar; recorded in the same history as server jobs."""
    params: dict[str, Any] = {}
    if params_json:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            _fail(f"--json is not valid JSON: {exc}", 2)
        if not isinstance(params, dict):
            _fail("--json must be a JSON object", 2)
    for item in param:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _fail(f"--param expects key=value, got {item!r}", 2)
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    manager = _job_manager()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[message]}", markup=False),
                  TimeElapsedColumn(), console=err, transient=False) as progress:
        task = progress.add_task(escape(kind), total=1.0, message="")

        def on_update(update: dict[str, Any]) -> None:
            if update["type"] == "job":
                job = update["job"]
                progress.update(task, completed=job["progress"] or 0.0, message=job["message"] or "")
            elif update["type"] == "log":
                progress.console.print(f"[dim]{escape(update['line'])}[/]")

        manager.add_listener(on_update)
        job = manager.run_inline(kind, params)
    manager.store.close()
    if job["state"] == "succeeded":
        _json(job["result"])
        return
    _fail(f"job {job['state']}: {job['error'] or job['message']} (logs: comfyvn jobs logs {job['id']})")


@jobs_app.command("list")
def jobs_list(state: Optional[str] = typer.Option(None), limit: int = typer.Option(20)) -> None:
    """Recent jobs from the history."""
    manager = _job_manager()
    table = Table("id", "kind", "state", "progress", "message")
    for job in manager.list(state=state, limit=limit):
        progress = "" if job["progress"] is None else f"{job['progress']:.0%}"
        table.add_row(job["id"][:12], escape(job["kind"]), job["state"], progress,
                      escape(job["error"] or job["message"] or ""))
    out.print(table)


@jobs_app.command("logs")
def jobs_logs(job_id: str) -> None:
    """Log lines of a job from the history (ids may be abbreviated as shown by `jobs list`)."""
    manager = _job_manager()
    if len(job_id) < 32:
        matches = [j["id"] for j in manager.list(limit=1000) if j["id"].startswith(job_id)]
        if len(matches) != 1:
            _fail(f"{len(matches)} jobs match '{job_id}'; give more of the id")
        job_id = matches[0]
    for line in manager.logs(job_id):
        out.print(line["line"], markup=False, highlight=False)


# -- token ---------------------------------------------------------------------------------------
@token_app.command("show")
def token_show() -> None:
    """Print the API token (creating it if there is none)."""
    from comfyvn.server.auth import ensure_token

    out.print(ensure_token()[0])


@token_app.command("rotate")
def token_rotate() -> None:
    """Replace the API token; running servers keep the old one until restarted."""
    from comfyvn.server.auth import rotate_token

    out.print(rotate_token())


def main() -> None:
    from comfyvn.core.logs import setup_logging

    if len(sys.argv) > 1 and sys.argv[1] not in ("serve", "launch", "--help", "-h"):
        try:
            setup_logging(console=True, run_log=True)
        except OSError as exc:
            err.print(f"[yellow]warning:[/] cannot write logs ({escape(str(exc))}); continuing without a log file")
    try:
        app()
    except ComfyVNError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
