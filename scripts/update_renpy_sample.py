#!/usr/bin/env python3
"""Rebuild the reference Ren'Py sample in renpy_project/ from renpy_project/source/.

    python scripts/update_renpy_sample.py           rewrite renpy_project/ (after an intended exporter change)
    python scripts/update_renpy_sample.py --check   exit 1 when the committed sample differs from a fresh export

The sample is read-only otherwise: the export smoke tests lint and play a sandboxed copy of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfyvn.core.errors import ComfyVNError  # noqa: E402
from comfyvn.export import sample  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Compare only; write nothing.")
    args = parser.parse_args()
    try:
        changes = sample.check() if args.check else sample.update()
    except ComfyVNError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    changed = {key: value for key, value in changes.items() if key != "unchanged" and value}
    for key, paths in changed.items():
        for path in paths:
            print(f"{key}: {path}")
    if args.check and changed:
        print("renpy_project/ is out of date: run python scripts/update_renpy_sample.py and commit it", file=sys.stderr)
        return 1
    print("renpy_project/ is up to date" if args.check or not changed else "renpy_project/ rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
