"""``comfyvn scenario ...``: validate and play scene files from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from comfyvn.core.errors import ComfyVNError

app = typer.Typer(help="Check and play scene files (the canonical scene JSON).", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _load(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        err.print(f"[bold red]error:[/] no such file: {escape(str(path))}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(path))} is not JSON: {escape(str(exc))}")
    raise typer.Exit(2)


@app.command()
def validate(
    scene_file: Path = typer.Argument(..., help="A scene JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, help="Treat warnings as errors (exit 1)."),
) -> None:
    """Validate a scene: schema errors plus semantic checks. Exit 1 on errors."""
    from comfyvn.scenario.validate import validate as run_validate

    report = run_validate(_load(scene_file))
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        for problem in report.errors + report.warnings:
            colour = "red" if problem.severity == "error" else "yellow"
            out.print(f"[{colour}]{problem.severity}[/] {escape(problem.path)}: {escape(problem.message)} "
                      f"[dim]({problem.code})[/]")
        verdict = "valid" if report.valid else "not valid"
        out.print(f"{escape(str(scene_file))}: {verdict} ({len(report.errors)} error(s), "
                  f"{len(report.warnings)} warning(s))")
    if not report.valid or (strict and report.warnings):
        raise typer.Exit(1)


@app.command()
def play(
    scene_file: Path = typer.Argument(..., help="A scene JSON file."),
    seed: str = typer.Option("0", help="Integer or string seed."),
    pov: Optional[str] = typer.Option(None, help="Active point of view."),
    choice: list[str] = typer.Option([], "--choice", "-c", help="Choice id to take (repeat, in order)."),
    max_steps: int = typer.Option(1000, min=1, help="Stop after this many steps."),
    as_json: bool = typer.Option(False, "--json", help="Print the final state (with its trace) as JSON."),
) -> None:
    """Play a scene headlessly: given choices first, then seeded random picks."""
    from comfyvn.scenario.rng import seed_from_text
    from comfyvn.scenario.runner import ScenarioRunner
    from comfyvn.scenario.service import load_valid

    try:
        scene = load_valid(_load(scene_file))
        runner = ScenarioRunner(scene)
        state, stopped = runner.run(runner.start(seed=seed_from_text(seed), pov=pov),
                                    choices=choice, max_steps=max_steps)
    except ComfyVNError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        for problem in exc.details.get("errors", [])[:20]:
            err.print(f"  {escape(problem['path'])}: {escape(problem['message'])}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(json.dumps(state.model_dump(mode="json") | {"stopped": stopped}))
        return
    nodes = scene.node_map()
    for entry in state.trace:
        if entry.choice:
            out.print(f"[dim]-> {escape(entry.choice)} ({entry.via})[/]")
        for line in nodes[entry.node].lines():
            who = getattr(line, "speaker", None)
            text = getattr(line, "text", None)
            if text is not None:
                out.print(f"[bold]{escape(who)}:[/] {escape(text)}" if who else escape(text))
    out.print(f"[dim]{stopped} at {escape(state.node)} after {state.step} step(s); variables: "
              f"{escape(json.dumps(state.vars, sort_keys=True))}[/]")
