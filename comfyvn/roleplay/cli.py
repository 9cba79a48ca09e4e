"""``comfyvn import FILE|FOLDER...``: import chat logs, character cards, World Info files,
personas and whole SillyTavern data folders into a project, with a progress bar and a summary."""

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


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _plans(paths: list[Path], user: Optional[str], kinds: tuple[str, ...]) -> list:
    """One plan per argument: a file; a SillyTavern data folder (discovered); any other folder
    (searched for importable files). The same file checks as the server (importer.plan_path and
    comfyvn.sillytavern.files): a path that is neither a folder nor a regular file (a device, a
    FIFO) is refused; inside a folder, FIFOs, devices, links leading out of it and files over the
    body limit are skipped with the reason."""
    from comfyvn.sillytavern import importer

    plans = []
    for path in paths:
        if not path.exists():
            _fail(f"no such file or folder: {path}")
        try:
            if path.is_dir():
                try:
                    plans.append(importer.discover(path, user, kinds))
                except importer.NotSillyTavernFolder:
                    plans.append(importer.search(path))
            else:
                plans.append(importer.plan_path(path.absolute()))
        except ComfyVNError as exc:  # several users and no --user, an unknown --user, not a regular file
            _fail(exc.message)
    return plans


def _result(row: dict) -> str:
    if row["status"] == "error":
        return f"[red]{escape(row['error']['message'])}[/]"
    if row["status"] == "skipped":
        return f"[dim]skipped: {escape(str(row['result']))}[/]"
    return f"[green]{escape(str(row['id']))}[/]"


def import_command(
    paths: list[Path] = typer.Argument(..., help="Files (chats, cards, World Info, personas), SillyTavern data "
                                       "folders, or folders to search."),
    project: str = typer.Option("default", "--project", "-p", help="Project to import into."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Force the chat reader (see the docs): files "
                                         "not recognised as cards, worlds or personas are read as chats with it."),
    detail_level: str = typer.Option("medium", "--detail", help="low, medium or high."),
    swipes: bool = typer.Option(False, "--swipes-as-choices", help="Turn swipes into choices between alternatives."),
    user: Optional[str] = typer.Option(None, "--user", help="The SillyTavern user (data/<user>/) when there are "
                                       "several."),
    kinds: str = typer.Option("worlds,personas,characters,chats", "--kinds",
                              help="What to import, comma-separated: worlds, personas, characters, chats."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace characters, worlds and chats edited since an "
                                   "earlier import (otherwise such items fail with import_edited)."),
) -> None:
    """Import chat logs (SillyTavern, oobabooga, Agnai, RisuAI, CAI Tools, Discord, transcripts), character
    cards, World Info files, personas and SillyTavern data folders into a project. Exit 1 when any item
    fails (the others are still imported), 2 for bad arguments."""
    from comfyvn.sillytavern import importer

    if detail_level not in ("low", "medium", "high"):
        _fail("--detail must be low, medium or high")
    wanted = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in wanted if k not in importer.KINDS]
    if unknown or not wanted:
        _fail(f"--kinds takes {', '.join(importer.KINDS)} (comma-separated); not {', '.join(unknown) or 'nothing'}")
    plans = _plans(paths, user, wanted)
    items = [item for plan in plans for item in plan.items]
    for plan in plans:
        for note in plan.notes:
            err.print(f"[yellow]note:[/] {escape(note)}")
    if not items:
        _fail("nothing to import")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[message]}", markup=False),
               TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("importing", total=len(items), message="")
        try:
            report = importer.import_items(
                items, project=project, kinds=wanted, format=format, detail_level=detail_level,
                swipes_as_choices=swipes, overwrite=overwrite,
                progress=lambda fraction, message: progress.update(task, completed=fraction * len(items),
                                                                   message=message))
        except ComfyVNError as exc:  # the project does not exist, or is not a valid id
            _fail(exc.message)
    table = Table("item", "kind", "result/uid", "warnings")
    for row in report["items"]:
        table.add_row(escape(row["item"]), row["kind"] or "-", _result(row), str(len(row["warnings"])))
    out.print(table)
    counts = report["counts"]
    summary = f"{counts['ok']} imported, {counts['error']} failed, {counts['skipped']} skipped"
    if counts["error"]:
        err.print(f"[bold red]{summary}[/]")
        raise typer.Exit(1)
    err.print(summary)
