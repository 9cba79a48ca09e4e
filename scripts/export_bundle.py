#!/usr/bin/env python3
"""Bundle a ComfyVN project into a portable, deterministic zip, or restore one as a new project.

    python scripts/export_bundle.py --project default --out exports/bundles/default.zip [--dry-run] [--json]
    python scripts/export_bundle.py --restore exports/bundles/default.zip --project copy [--force]

The same as `comfyvn bundle`; run with --help for every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import typer  # noqa: E402

from comfyvn.export.bundle_cli import bundle_command  # noqa: E402

if __name__ == "__main__":
    typer.run(bundle_command)
