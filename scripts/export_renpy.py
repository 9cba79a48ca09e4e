#!/usr/bin/env python3
"""Export a ComfyVN project as a playable Ren'Py project, then lint it with Ren'Py.

    python scripts/export_renpy.py --project default [--out build/renpy_game] [--dry-run] [--no-lint]

The same as `comfyvn export renpy`; run with --help for every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import typer  # noqa: E402

from comfyvn.export.cli import renpy_command  # noqa: E402

if __name__ == "__main__":
    typer.run(renpy_command)
