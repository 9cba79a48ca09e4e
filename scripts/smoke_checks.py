#!/usr/bin/env python3
"""REST and WebSocket checks of a running ComfyVN server.

    python scripts/smoke_checks.py [--base-url http://127.0.0.1:8001]

Checks /health, /status, /system/metrics, /jobs/poll, /api/modder/hooks, /api/flags, the /jobs/ws
snapshot, and a test event's round trip through /api/modder/hooks/ws. Prints every failure with
its connection details; exit code 1 if any check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfyvn.diagnostics.probes import checks, tool_target  # noqa: E402


def main() -> int:
    target = tool_target(__doc__.splitlines()[0])
    base, source = target.base, target.source
    probes = checks(base, target.token, target.timeout)
    failed = [p for p in probes if not p.ok]
    for probe in probes:
        print(f"{'ok  ' if probe.ok else 'FAIL'} {probe.name} ({probe.duration_ms} ms): {probe.detail}")
    if failed:
        print(f"\n{len(failed)} of {len(probes)} checks failed against {base} (base URL from {source}):",
              file=sys.stderr)
        for probe in failed:
            print(f"  {probe.name} -> {probe.target}: {probe.detail}", file=sys.stderr)
        return 1
    print(f"\nall {len(probes)} checks passed against {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
