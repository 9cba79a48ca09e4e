#!/usr/bin/env python3
"""Smoke test a running ComfyVN server: GET /health and /system/metrics.

    python scripts/smoke_test.py --base-url http://127.0.0.1:8001

Exit code 0 when both answer, 1 otherwise (with the connection details).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfyvn.diagnostics.probes import smoke, tool_target  # noqa: E402


def main() -> int:
    target = tool_target(__doc__.splitlines()[0])
    base, source = target.base, target.source
    probes = smoke(base, target.token, target.timeout)
    for probe in probes:
        print(f"{'ok  ' if probe.ok else 'FAIL'} {probe.name}: {probe.detail}  [{probe.target}]")
    if not all(p.ok for p in probes):
        print(f"smoke test failed against {base} (base URL from {source})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
