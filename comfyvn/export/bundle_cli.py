"""``comfyvn bundle``: a project -> a portable, deterministic zip, and a zip -> a new project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from comfyvn.core.errors import ComfyVNError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
SHOWN = 20  # renames and skipped files listed without --dry-run


def _plain(text: str) -> None:
    out.print(text, markup=False, highlight=False)


def _run(description: str, work: Any) -> Any:
    """``work(progress)`` with a progress bar (on stderr) of the bytes copied so far; the bar
    appears with the first file, so a refused project or bundle prints only its error."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[message]}", markup=False), TimeElapsedColumn())
    bar = Progress(*columns, console=err)
    task = bar.add_task(description, total=1.0, message="")

    def update(fraction: float, message: str) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=fraction, message=message[-60:])

    try:
        return work(update)
    finally:
        if bar.live.is_started:
            bar.stop()


def _show_build(result: dict[str, Any], dry_run: bool) -> None:
    listing = result if dry_run else result["manifest"]
    entries, renames, skipped = listing["entries"], listing["renames"], listing["skipped"]
    if dry_run:
        for entry in entries:
            arrow = f" -> {entry['bundled']}" if entry["bundled"] != entry["path"] else ""
            _plain(f"{entry['path']}{arrow} ({entry['bytes']} bytes)")
    else:
        for rename in renames[:SHOWN]:
            _plain(f"renamed {rename['from']} -> {rename['to']}")
    for item in skipped if dry_run else skipped[:SHOWN]:
        _plain(f"skipped {item['path']}: {item['reason']}")
    totals = listing["totals"]
    head = "would bundle" if dry_run else f"bundled into {result['archive']}:"
    _plain(f"{head} {totals['files']} file(s), {totals['bytes']} bytes, {totals['renamed']} renamed, "
           f"{totals['skipped']} skipped")
    if not dry_run:
        _plain(f"sha256 {result['sha256']}, {result['bytes']} bytes; log: {result['log']}")


def bundle_command(
    project: Optional[str] = typer.Option(None, "--project", "-p", help="The project to bundle (default: "
                                          "'default'); with --restore, the id of the new project (default: the "
                                          "bundle's own)."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="The zip to write (default: "
                                            "exports/bundles/<project>.zip)."),
    restore: Optional[Path] = typer.Option(None, "--restore", metavar="ZIP",
                                           help="Import this bundle as a new project instead."),
    force: bool = typer.Option(False, "--force", help="With --restore: replace an existing project of that id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go in the bundle (with --restore: "
                                 "check the bundle completely); write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Bundle a project (scenes, characters, assets and their sidecars, ...) into a zip that unpacks
    on Windows, macOS and Linux, or restore one with --restore. Same project => same bytes."""
    from comfyvn.export import bundle, bundle_restore

    if restore is not None and out_file is not None:
        err.print("[bold red]error:[/] --out is for making a bundle; --restore writes a project (name it with "
                  "--project)")
        raise typer.Exit(2)
    try:
        if restore is not None:
            if dry_run:
                result = bundle_restore.verify(restore)
            else:
                result = _run("restoring", lambda progress: bundle_restore.restore(
                    restore, project, force=force, progress=progress))
        else:
            name = project or "default"
            if dry_run:
                result = bundle.plan_summary(bundle.plan(name))
            else:
                target = out_file or Path("exports") / "bundles" / f"{name}.zip"
                result = _run("bundling", lambda progress: bundle.build(name, target, progress=progress))
    except ComfyVNError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(json.dumps(result, default=str))
    elif restore is not None and dry_run:
        _plain(f"{restore}: a valid bundle of project {result['project'].get('id')} ({result['files']} file(s), "
               f"{result['bytes']} bytes, {result['renamed']} renamed)")
    elif restore is not None:
        verb = "replaced" if result["replaced"] else "created"
        _plain(f"{verb} project {result['project']} at {result['path']} ({result['files']} file(s), "
               f"{result['bytes']} bytes)")
    else:
        _show_build(result, dry_run)
