#!/usr/bin/env python3
"""Record and check the ComfyUI node classes and inputs our workflow templates need.

    python tools/lock_nodes.py --write                 # (re)write comfyvn/workflows/<id>.lock.json
    python tools/lock_nodes.py --check                 # the lock files still match their templates
    python tools/lock_nodes.py --server http://127.0.0.1:8188 [--template sprite_pack] [--json]
                                                       # can this server run the templates?

Exit codes: 0 fine (warnings allowed), 1 problems found (a stale lock, or a server missing a node
class or input), 2 bad usage or the server cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from comfyvn.core.errors import ComfyVNError  # noqa: E402
from comfyvn.core.store import atomic_write_json  # noqa: E402
from comfyvn.render import locks, templates  # noqa: E402

WORKFLOWS = ROOT / "comfyvn" / "workflows"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--template", action="append", help="Only this template (repeatable); default: all.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="Write the lock files from the templates.")
    mode.add_argument("--check", action="store_true", help="Fail when a lock file differs from its template.")
    mode.add_argument("--server", help="Check the templates against this ComfyUI server's /object_info.")
    parser.add_argument("--json", action="store_true", help="Print a JSON report.")
    args = parser.parse_args(argv)
    try:
        names = args.template or templates.names()
        for name in names:
            templates.get(name)
    except ComfyVNError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    report: dict[str, list[dict[str, str]]] = {}
    if args.write:
        for name in names:
            atomic_write_json(WORKFLOWS / f"{name}.lock.json", locks.current(name))
            report[name] = []
    elif args.check:
        for name in names:
            stored = locks.stored_lock(name)
            report[name] = [] if stored == locks.current(name) else [
                {"severity": "error", "node": "", "message": "the lock file is missing or stale: run --write"}]
    else:
        from comfyvn.render.comfyui import ComfyUIServer

        try:
            server = ComfyUIServer(args.server, timeout=10)
            info = server.object_info()
        except ComfyVNError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        for name in names:
            report[name] = locks.check(locks.stored_lock(name) or locks.current(name), info)
    failed = any(p["severity"] == "error" for problems in report.values() for p in problems)
    if args.json:
        print(json.dumps({"ok": not failed, "templates": report}, indent=2, sort_keys=True))
    else:
        for name, problems in report.items():
            print(f"{name}: {'ok' if not problems else ''}")
            for problem in problems:
                print(f"  {problem['severity']}: {problem['message']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
