"""``comfyvn export renpy``: a project -> a playable Ren'Py project (then Ren'Py's lint)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from comfyvn.core.errors import ComfyVNError

app = typer.Typer(help="Export a project as a game.", no_args_is_help=True)
DIFF_LIMIT = 50  # files listed per kind by a dry run (--json lists them all)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("renpy")
def renpy_command(
    project: str = typer.Option("default", "--project", "-p", help="The project to export."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Where to write it (default: <data>/build/<project>/renpy_game)."),
    name: Optional[str] = typer.Option(None, help="The game's title (default: the project's name)."),
    game_version: str = typer.Option("1.0", "--game-version", help="The game's version (config.version)."),
    seed: str = typer.Option("0", help="The story PRNG's seed (an integer or any text)."),
    per_scene: bool = typer.Option(True, "--per-scene/--no-per-scene", help="One .rpy module per scene, or all in script.rpy."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would change; write nothing."),
    lint: Optional[bool] = typer.Option(None, "--lint/--no-lint", help="Run Ren'Py's lint afterwards (default: when Ren'Py is installed)."),
    with_tests: bool = typer.Option(False, "--with-tests", help="Add testcases that play each ending and check the "
                                    "visited nodes against our runner; run them after lint."),
    pov_mode: str = typer.Option("auto", "--pov-mode", help="auto|master|forks|both|disabled: a master game with a "
                                 "Switch POV menu and/or one game per POV under forks/<slug>/ (auto: both when the "
                                 "project has two or more POVs)."),
    pov_switch: bool = typer.Option(True, "--pov-switch/--no-pov-switch", help="The in-game Switch POV menu."),
    publish: bool = typer.Option(False, "--publish", help="Also write a deterministic zip of the game."),
    publish_out: Optional[Path] = typer.Option(None, "--publish-out", help="The zip (default: exports/renpy/<name>.zip)."),
    platform: list[str] = typer.Option(["pc"], "--platform", help="Platform folders in the zip (repeatable)."),
    invoke_sdk: bool = typer.Option(False, "--invoke-sdk", help="Run the Ren'Py SDK's launcher after zipping."),
    renpy_sdk: Optional[Path] = typer.Option(None, "--renpy-sdk", help="The Ren'Py SDK folder for --invoke-sdk."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a project to a Ren'Py project and lint it. Exit 1 when lint reports errors."""
    from comfyvn.export import publish as publishing
    from comfyvn.export.renpy_names import ident
    from comfyvn.export.service import export_renpy
    from comfyvn.scenario.rng import seed_from_text

    if invoke_sdk and not renpy_sdk:
        err.print("[bold red]error:[/] --invoke-sdk needs --renpy-sdk PATH (a Ren'Py SDK folder)")
        raise typer.Exit(2)
    try:
        platforms = publishing.check_platforms(platform)  # every option is checked before anything is written
        if publish and not dry_run:
            publishing.check_archive_path(publish_out or Path("exports") / "renpy" / "game.zip")
            if invoke_sdk:
                publishing.check_sdk(renpy_sdk)
        result = export_renpy(project, out=out_dir, name=name, version=game_version, seed=seed_from_text(seed),
                              per_scene=per_scene, dry_run=dry_run, lint=lint, with_tests=with_tests,
                              pov_mode=pov_mode, pov_switch=pov_switch)
        if publish and not dry_run:
            title = result["manifest"]["name"]
            target = publish_out or Path("exports") / "renpy" / f"{ident(title, 'game')}.zip"
            result["publish"] = publishing.publish(Path(result["out"]), target, name=title,
                                                   version=result["manifest"]["version"], platforms=platforms)
            if invoke_sdk:
                result["publish"]["sdk"] = publishing.invoke_sdk(Path(result["out"]), renpy_sdk)
    except ComfyVNError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(json.dumps(result, default=str))
    else:
        verb = "would change" if dry_run else "wrote"
        counts = result["changes"]
        out.print(f"{verb} {escape(result['out'])}: {counts['added']} added, {counts['changed']} changed, "
                  f"{counts['removed']} removed, {counts['unchanged']} unchanged")
        for kind, paths in (result.get("diff") or {}).items():  # a dry run: the files themselves
            _print_paths(kind, paths)
        for kind, items in result["manifest"]["missing"].items():
            if items:
                out.print(f"[yellow]missing {kind}[/] (placeholders used): {escape(', '.join(items[:10]))}")
        lint_report = result.get("lint")
        if lint_report:
            state = "[green]lint clean[/]" if lint_report["ok"] else f"[red]lint: {len(lint_report['errors'])} error(s)[/]"
            out.print(f"{state} ({lint_report['seconds']} s)")
            for line in lint_report["errors"][:20]:
                out.print(f"  {escape(line)}")
        elif not dry_run and lint is not False:
            out.print("Ren'Py not found: lint skipped (install Debian's renpy or set COMFYVN_RENPY_SDK)")
        for test in result.get("tests") or []:
            state = "[green]passed[/]" if test["ok"] else "[red]failed[/]"
            out.print(f"playthrough {test['testcase']}: {state} ({test['seconds']} s) {escape(' '.join(test['errors']))}")
        for pov, fork in (result.get("forks") or {}).items():
            state = "[green]lint clean[/]" if fork["ok"] else f"[red]lint: {len(fork['errors'])} error(s)[/]"
            out.print(f"POV fork {escape(pov)}: {state} ({fork['seconds']} s)")
            for line in fork["errors"][:20]:
                out.print(f"  {escape(line)}")
            for test in fork.get("tests") or []:
                out.print(f"  playthrough {test['testcase']}: {'passed' if test['ok'] else 'failed'} "
                          f"{escape(' '.join(test['errors']))}")
        if result.get("publish"):
            out.print(f"published {escape(result['publish']['archive'])} ({result['publish']['bytes']} bytes)")
        for note in result.get("notes") or []:
            out.print(f"[yellow]note:[/] {escape(note)}")
    forks = (result.get("forks") or {}).values()
    if ((result.get("lint") and not result["lint"]["ok"]) or any(not t["ok"] for t in result.get("tests") or [])
            or any(not f["ok"] or any(not t["ok"] for t in f.get("tests") or []) for f in forks)):
        raise typer.Exit(1)


def _print_paths(kind: str, paths: list[str], limit: int = DIFF_LIMIT) -> None:
    """``kind`` (added, changed, removed) and its files, one a line, at most ``limit`` of them."""
    if not paths:
        return
    out.print(f"{kind}:")
    for path in paths[:limit]:
        out.print(f"  {escape(path)}")
    if len(paths) > limit:
        out.print(f"  ... and {len(paths) - limit} more")


def make_command(
    paths: list[Path] = typer.Argument(..., help="Chat logs, character cards, SillyTavern folders."),
    out_dir: Path = typer.Option(..., "--out", help="Where the game goes."),
    project: str = typer.Option("default", "--project", "-p", help="The project to import into and export."),
    name: Optional[str] = typer.Option(None, help="The game's title (default: the project's name)."),
    provider: str = typer.Option("auto", help="Who draws: auto (ComfyUI when configured), builtin or comfyui."),
    seed: int = typer.Option(0, help="Seed for the art and the story PRNG."),
) -> None:
    """Import chats and cards, draw the characters and backgrounds, export a Ren'Py game and lint it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from comfyvn.export.make import check_inputs, make
    from comfyvn.roleplay.cli import _plans
    from comfyvn.sillytavern import importer

    from comfyvn.projects.store import create_project

    try:
        check_inputs(out=out_dir, provider=provider)  # before anything is imported or drawn
    except ComfyVNError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        raise typer.Exit(2) from None
    plans = _plans(paths, None, importer.KINDS)
    items = [item for plan in plans for item in plan.items]
    if not items:
        err.print("[bold red]error:[/] nothing to import in the given paths")
        raise typer.Exit(2)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[message]}", markup=False),
               TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("making", total=1.0, message="")
        try:
            create_project({"id": project}, exist_ok=True)  # make starts a project of its own when asked to
            report = importer.import_items(items, project=project, progress=lambda f, m: bar.update(
                task, completed=0.1 * f, message=m))
            failed = [row for row in report["items"] if row["status"] == "error"]
            for row in failed:
                err.print(f"[yellow]not imported:[/] {escape(row['item'])}: {escape(row['error']['message'])}")
            result = make(project, out=out_dir, name=name, provider=provider, seed=seed,
                          progress=lambda f, m: bar.update(task, completed=f, message=m))
        except ComfyVNError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}")
            raise typer.Exit(2) from None
    out.print(f"game written to {escape(result['out'])} ({len(result['manifest']['scenes'])} scene(s), "
              f"{result['drawn']['characters']} character(s) drawn, {result['drawn']['backgrounds']} background(s))")
    lint_report = result.get("lint")
    if lint_report:
        out.print("[green]Ren'Py lint: clean[/]" if lint_report["ok"] else
                  f"[red]Ren'Py lint: {len(lint_report['errors'])} error(s)[/]")
        out.print(f"play it: renpy {escape(result['out'])}")
    else:
        out.print("Ren'Py not found: install it (apt-get install renpy) or the SDK from renpy.org, then run: "
                  f"renpy {escape(result['out'])}")
    if lint_report and not lint_report["ok"]:
        raise typer.Exit(1)
