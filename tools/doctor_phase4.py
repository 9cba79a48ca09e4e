#!/usr/bin/env python3
"""Doctor: probe a ComfyVN server and this machine, print a JSON report.

    python tools/doctor_phase4.py --base http://127.0.0.1:8001

Exit code 1 when any probe fails (the report's "failed" list names them).
Same as `comfyvn doctor`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfyvn.diagnostics.probes import run_doctor, tool_target  # noqa: E402


def main() -> int:
    target = tool_target(__doc__.splitlines()[0], base_flag="--base")
    report = run_doctor(target.base, token=target.token, timeout=target.timeout, source=target.source)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
