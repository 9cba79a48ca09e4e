#!/usr/bin/env python3
"""Audit a project's asset folder against its .asset.json sidecars.

    python tools/assets_enforcer.py [--project ID | --assets DIR] [--dry-run] [--json] [--strict]
                                    [--fix] [--fill-metadata]

Finds media files without a sidecar (missing_sidecar), files changed since they were registered
(stale_hash), sidecars whose file is gone (orphan_sidecar), sidecars that are not valid JSON or
lack fields (unreadable_sidecar), sidecars whose "path" is not where they lie (path_mismatch),
several sidecars of one asset (duplicate_uid), unreadable files, and, as warnings, assets without
licence or tags (missing_metadata) and symbolic links. Hidden folders (.previews, .index) are skipped.

Nothing is written unless --fix or --fill-metadata is given without --dry-run:
  --fix            move sidecars of moved files, rewrite wrong paths, rebuild the index, remove
                   assets whose file is gone, register unregistered media (needs a project)
  --fill-metadata  tags from folder names, licence from the nearest LICENSE file, only where missing
The findings printed are those left after the changes.

Exit codes: 0 clean (warnings allowed unless --strict), 1 findings of error severity remain,
2 bad usage, unknown project or missing folder. See docs/assets-enforcer.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filelock import Timeout  # noqa: E402

from comfyvn.core.errors import ComfyVNError  # noqa: E402

EXIT_FAILED, EXIT_USAGE = 1, 2


def _parser() -> argparse.ArgumentParser:
    lines = __doc__.splitlines()
    parser = argparse.ArgumentParser(prog="assets_enforcer.py", description=lines[0] + "\n\n" + "\n".join(lines[4:]).strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="ID", help="the project whose asset folder to audit (default: default)")
    where.add_argument("--assets", type=Path, metavar="DIR", help="any asset folder instead (a project's asset "
                       "folder counts as that project)")
    parser.add_argument("--dry-run", action="store_true", help="report only, write nothing (the default unless "
                        "--fix or --fill-metadata is given); with those, show what they would change")
    parser.add_argument("--fix", action="store_true", help="repair what can be repaired safely (see above)")
    parser.add_argument("--fill-metadata", action="store_true", help="fill missing tags and licences from folder "
                        "names and LICENSE files")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    return parser


@contextmanager
def _progress() -> Iterator[Callable[[int, int, str], None] | None]:
    """A transient rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("auditing", total=None)

        def show(done: int, total: int, rel: str) -> None:
            bar.update(task, completed=done, total=total, description=f"auditing {rel[-40:]}")

        yield show


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(soft_wrap=True)
    where = f"project {report['project']}" if report["project"] else "folder"
    out.print(f"assets {escape(where)}: {escape(report['root'])} ({report['mode']})")
    if report["findings"]:
        table = Table("severity", "kind", "path", "detail")
        table.columns[2].overflow = "fold"
        for f in report["findings"]:
            colour = "red" if f["severity"] == "error" else "yellow"
            table.add_row(f"[{colour}]{f['severity']}[/]", f["kind"], escape(f["path"]), escape(f["detail"]))
        out.print(table)
    if report["actions"]:
        table = Table("action", "path", "uid", "note")
        table.columns[1].overflow = "fold"
        for a in report["actions"]:
            facts = {**a, "tags": " ".join(a.get("tags", []))}
            note = a.get("reason") or a.get("error") or ", ".join(f"{k}={facts[k]}" for k in ("tags", "license",
                                                                                              "from", "assets") if k in a)
            table.add_row(a["action"], escape(a["path"]), a.get("uid") or "", escape(str(note)))
        out.print(table)
    elif report["metadata"]:
        table = Table("would fill", "tags", "license")
        for m in report["metadata"]:
            table.add_row(escape(m["path"]), escape(", ".join(m.get("tags", []))), escape(m.get("license") or ""))
        out.print(table)
    c = report["counts"]
    out.print(f"{c['media_files']} media files, {c['sidecars']} sidecars: {c['errors']} errors, "
              f"{c['warnings']} warnings")


def _target(project: str | None, assets: Path | None) -> tuple[Path, str | None]:
    """``(asset root, project or None)``; a project's asset folder given with --assets counts as the
    project. NotFound/BadRequest for an unknown project or a missing folder (nothing is created)."""
    from comfyvn.assets.paths import asset_root
    from comfyvn.config import runtime_paths
    from comfyvn.core.errors import BadRequest, NotFound
    from comfyvn.projects.paths import DEFAULT_PROJECT, check_id, project_dir
    from comfyvn.projects.store import PROJECT_FILE

    if assets is None:
        project = check_id(project or DEFAULT_PROJECT, "project")
        if project != DEFAULT_PROJECT and not (project_dir(project) / PROJECT_FILE).is_file():
            raise NotFound(f"project {project!r} was not found under {runtime_paths.workspaces_dir()}; check the id "
                           "or COMFYVN_RUNTIME_ROOT, or give the folder with --assets")
        return asset_root(project), project
    root = assets.expanduser().absolute()
    if not root.is_dir():
        raise BadRequest(f"--assets {assets}: no such folder; give the asset folder to audit")
    workspaces = runtime_paths.workspaces_dir().absolute()
    if root.name == "assets" and root.parent.parent == workspaces and (root.parent / PROJECT_FILE).is_file():
        return root, root.parent.name
    return root, None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from comfyvn.assets import audit

    apply = not args.dry_run
    try:
        root, project = _target(args.project, args.assets)
        with _progress() as progress:
            report = audit.run(root, project, repair=args.fix, fill=args.fill_metadata, apply=apply,
                               progress=progress)
    except ComfyVNError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, Timeout) as exc:  # a file system error, or another process holds the asset lock
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_table(report)
    return audit.exit_code(report, strict=args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
