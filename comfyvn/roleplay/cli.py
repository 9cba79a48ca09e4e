"""``comfyvn import FILE|FOLDER...``: import chat logs into a project with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from comfyvn.core.errors import ComfyVNError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
SKIP_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".gif", ".mp3", ".ogg", ".wav", ".zip", ".charx"}


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() not in SKIP_SUFFIXES
                                and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            err.print(f"[bold red]error:[/] no such file or folder: {escape(str(path))}")
            raise typer.Exit(2)
    return found


def import_command(
    paths: list[Path] = typer.Argument(..., help="Chat log files, or folders to search for them."),
    project: str = typer.Option("default", "--project", "-p", help="Project to import into."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Force a reader (see the docs); default: detect."),
    detail_level: str = typer.Option("medium", "--detail", help="low, medium or high."),
    swipes: bool = typer.Option(False, "--swipes-as-choices", help="Turn swipes into choices between alternatives."),
) -> None:
    """Import chat logs (SillyTavern .jsonl/.txt, oobabooga, Agnai, RisuAI, CAI Tools, Discord, transcripts)
    into a project as scenes. Exit 1 when any file fails; the others are still imported."""
    from comfyvn.roleplay.service import import_log

    if detail_level not in ("low", "medium", "high"):
        err.print("[bold red]error:[/] --detail must be low, medium or high")
        raise typer.Exit(2)
    files = _files(paths)
    if not files:
        err.print("[bold red]error:[/] no files to import")
        raise typer.Exit(2)
    table = Table("file", "format", "scenes", "messages", "warnings", "result")
    failures = 0
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[message]}", markup=False),
                  TimeElapsedColumn(), console=err) as progress:
        overall = progress.add_task("importing", total=len(files), message="")
        for path in files:
            progress.update(overall, message=path.name)
            try:
                summary = import_log(path.read_bytes(), path.name, project=project, format=format,
                                     detail_level=detail_level, swipes_as_choices=swipes)
            except (ComfyVNError, OSError) as exc:
                failures += 1
                table.add_row(escape(path.name), "-", "-", "-", "-", f"[red]{escape(getattr(exc, 'message', str(exc)))}[/]")
            else:
                table.add_row(escape(path.name), summary["format"], str(len(summary["scenes"])),
                              str(summary["messages"]), str(len(summary["warnings"])), f"[green]{summary['uid']}[/]")
            progress.advance(overall)
    out.print(table)
    if failures:
        err.print(f"[bold red]{failures} of {len(files)} file(s) failed[/]")
        raise typer.Exit(1)
