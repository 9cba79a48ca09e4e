"""Export a project to Ren'Py: build, write (or only compare, for a dry run), then lint with
Ren'Py itself when it is installed. Shared by ``comfyvn export renpy``,
``scripts/export_renpy.py`` and ``/api/export/renpy``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core.errors import ComfyVNError, InvalidInput
from comfyvn.export import exporter

Progress = Callable[[float, str], None]
VERSION_PATTERN = r"^[A-Za-z0-9._+-]{1,64}$"  # the API's pattern for the game's version (config.version)
TEST_TIMEOUT = 180.0  # seconds one generated playthrough may take before it counts as failed


def default_out(project: str) -> Path:
    return runtime_paths.data_dir() / "build" / project / "renpy_game"


def check_version(version: Any) -> str:
    """``version`` when it is a valid game version (``VERSION_PATTERN``), else InvalidInput."""
    if not isinstance(version, str) or not re.match(VERSION_PATTERN, version):
        raise InvalidInput(f"version {version!r} must be 1-64 letters, digits, '.', '_', '+' or '-' (e.g. 1.0.2)",
                           details={"field": "version"})
    return version


def check_out(out: Path | str) -> Path:
    """``out`` as an export folder: an existing folder, or a new one whose nearest existing parent
    is a folder we may write in. InvalidInput naming the problem otherwise (nothing is written)."""
    target = Path(out).expanduser()
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"out: {target} is a file, not a folder; pass a folder (created when missing)",
                           details={"field": "out", "out": str(target)})
    parent = target
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidInput(f"out: {target} cannot be created because {parent} is a file",
                           details={"field": "out", "out": str(target)})
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput(f"out: no permission to write in {parent}; pick another folder",
                           details={"field": "out", "out": str(target)})
    return target


def build_project(project: str, *, name: str | None = None, version: str = "1.0", seed: int | str = 0,
                  per_scene: bool = True, scenes: list[str] | None = None, with_trace: bool = False,
                  with_tests: bool = False, pov_mode: str = "auto", pov_switch: bool = True,
                  progress: Progress = lambda fraction, message: None) -> exporter.Build:
    """Every file an export of ``project`` writes, in memory (shared by the export and the publish
    packages, so a dry run sees exactly what a real run writes)."""
    from comfyvn.export import pov_builds
    from comfyvn.projects.store import require_project

    require_project(project)
    check_version(version)
    pov_builds.check_mode(pov_mode)
    progress(0.05, "reading scenes")
    loaded = exporter.load_scenes(project, scenes)
    worlds, active = _worldlines(project) if pov_mode != "disabled" else ([], None)
    plan = pov_builds.analyse(loaded, worlds, mode=pov_mode, switch=pov_switch, active=active)
    progress(0.2, f"writing {len(loaded)} scene(s)" + (f", {len(plan.povs)} POV fork(s)" if plan.forks else ""))
    options = exporter.Options(name=name or _project_name(project), version=version, seed=seed, per_scene=per_scene,
                               with_trace=with_trace, with_tests=with_tests)
    return exporter.build(loaded, options, project=project, povs=plan)


def export_renpy(project: str, *, out: Path | None = None, name: str | None = None, version: str = "1.0",
                 seed: int | str = 0, per_scene: bool = True, dry_run: bool = False, lint: bool | None = None,
                 scenes: list[str] | None = None, with_trace: bool = False, with_tests: bool = False,
                 pov_mode: str = "auto", pov_switch: bool = True,
                 progress: Progress = lambda fraction, message: None) -> dict[str, Any]:
    """Export ``project``; ``lint``: True runs Ren'Py's lint (error when Ren'Py is missing), None
    runs it when Ren'Py is found, False skips it. ``pov_mode``: see :mod:`comfyvn.export.pov_builds`.
    ``scenes``: ids in play order (an id given twice is exported once). Returns what changed, the
    manifest, the lint (and the playthroughs) of the game and its forks, and ``notes`` (e.g. that
    playthroughs were written but not run). Every input is checked before anything is written."""
    from comfyvn.projects.store import require_project

    require_project(project)
    check_version(version)
    target = check_out(out) if out else default_out(project)
    renpy = None
    if lint is not False and not dry_run:
        from comfyvn.export import renpy_tool

        renpy = renpy_tool.require_renpy() if lint else renpy_tool.find_renpy()  # lint=True: raises when missing
    built = build_project(project, name=name, version=version, seed=seed, per_scene=per_scene, scenes=scenes,
                          with_trace=with_trace, with_tests=with_tests, pov_mode=pov_mode, pov_switch=pov_switch,
                          progress=progress)
    if dry_run:
        changes = exporter.diff(built, target)
        return {"dry_run": True, "out": str(target), "changes": _counts(changes), "diff": _lists(changes),
                "manifest": built.manifest}
    changes = exporter.write(built, target)
    result: dict[str, Any] = {"dry_run": False, "out": str(target), "changes": _counts(changes),
                              "manifest": built.manifest, "lint": None, "notes": []}
    if renpy is not None:
        from comfyvn.export import renpy_tool

        games = [(None, target, built.manifest["testcases"])]
        games += [(pov, target / fork["out"], fork["testcases"])
                  for pov, fork in sorted(built.manifest.get("forks", {}).items())]
        for pov, game, testcases in games:
            progress(0.7, "linting with Ren'Py" + (f" (the {pov} fork)" if pov else ""))
            report = renpy_tool.lint(game, renpy=renpy)
            checked: dict[str, Any] = {"ok": report.ok, "errors": report.errors, "seconds": round(report.seconds, 2)}
            if with_tests and report.ok:
                checked["tests"] = run_tests(game, testcases, renpy, progress)
            elif with_tests:
                result["notes"].append("playthroughs not run" + (f" in the {pov} fork" if pov else "")
                                       + ": fix the lint errors first")
            if pov is None:
                result["lint"] = {k: v for k, v in checked.items() if k != "tests"}
                if "tests" in checked:
                    result["tests"] = checked["tests"]
            else:
                result.setdefault("forks", {})[pov] = checked
    elif with_tests:
        why = "lint is off (--no-lint)" if lint is False else "Ren'Py was not found"
        result["notes"].append(f"playthroughs written to game/cvn_tests.rpy but not run: {why}; they run after "
                               "Ren'Py's lint (--lint)")
    progress(1.0, "done")
    return result


def _worldlines(project: str) -> tuple[list[dict[str, Any]], str | None]:
    """The project's worldlines and its active one (for the POV forks)."""
    from comfyvn.pov import worldlines
    from comfyvn.pov.manager import get_state

    return worldlines.list_all(project), get_state(project)["worldline"]


def run_tests(game: Path, names: list[str], renpy: Any, progress: Progress) -> list[dict[str, Any]]:
    """Run the generated playthroughs in Ren'Py (headless); one report per testcase. One that
    hangs is stopped after ``TEST_TIMEOUT`` seconds and reported as failed; the others still run."""
    from comfyvn.export import renpy_tool

    results = []
    for n, name in enumerate(names):
        progress(0.8 + 0.2 * n / max(len(names), 1), f"playing {name}")
        try:
            report = renpy_tool.run_test(game, name, renpy=renpy, timeout=TEST_TIMEOUT)
        except renpy_tool.RenPyTimeout:
            error = f"timed out after {TEST_TIMEOUT:g} s: the playthrough did not reach its end (stuck or looping)"
            results.append({"testcase": name, "ok": False, "seconds": round(TEST_TIMEOUT, 2), "errors": [error]})
            continue
        results.append({"testcase": name, "ok": report.ok, "seconds": round(report.seconds, 2),
                        "errors": report.errors})
    return results


def _project_name(project: str) -> str:
    from comfyvn.projects.store import get_project

    try:
        return str(get_project(project)["data"].get("name") or project)
    except ComfyVNError:  # the title is cosmetic
        return project


def _counts(changes: dict[str, list[str]]) -> dict[str, int]:
    return {key: len(value) for key, value in changes.items()}


def _lists(changes: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: value for key, value in changes.items() if key != "unchanged"}
