"""Support bundle: one zip with what a maintainer needs to help (versions, platform, paths,
flags, plugins, redacted settings and recent logs). Runs as the ``system.diagnostics`` job."""

from __future__ import annotations

import io
import json
import os
import platform
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, Field

from comfyvn import __version__
from comfyvn.config import feature_flags, runtime_paths
from comfyvn.config.settings import SettingsManager
from comfyvn.core import plugins
from comfyvn.core.jobs import JobContext
from comfyvn.core.logs import log_file
from comfyvn.core.store import atomic_write_bytes

SECRET_WORDS = ("secret", "token", "password", "api_key", "apikey", "credential")


class DiagnosticsParams(BaseModel):
    include_logs: bool = True
    max_log_bytes: int = Field(default=2_000_000, ge=0, le=100_000_000,
                               description="Newest bytes kept of each log file.")


def redact(value: Any) -> Any:
    """Replace values of secret-looking keys with '***', recursively."""
    if isinstance(value, dict):
        return {
            k: "***" if any(word in str(k).lower() for word in SECRET_WORDS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def system_report() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "comfyvn": __version__,
        "python": sys.version,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": psutil.cpu_count(),
        "memory_total": memory.total,
        "paths": {k: str(v) for k, v in runtime_paths.all_paths().items()},
        "flags": feature_flags.values(),
        "plugins": plugins.state(),
        "env": {k: ("***" if any(w in k.lower() for w in SECRET_WORDS) else v)
                for k, v in sorted(os.environ.items()) if k.startswith("COMFYVN_")},
        "generated_at": time.time(),
    }


def _tail(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        return handle.read()


def collect(ctx: JobContext) -> dict[str, Any]:
    params = DiagnosticsParams.model_validate(ctx.params or {})
    logs: list[Path] = []
    if params.include_logs:
        system = log_file()
        logs = sorted(p for p in system.parent.glob(system.name + "*") if p.is_file())
    steps = 2 + len(logs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        ctx.progress(0.0, "collecting system facts")
        archive.writestr("system.json", json.dumps(system_report(), indent=2, sort_keys=True, default=str))
        ctx.progress(1 / steps, "collecting settings")
        archive.writestr("settings.json", json.dumps(redact(SettingsManager().stored()), indent=2, sort_keys=True))
        for index, path in enumerate(logs, start=2):
            ctx.progress(index / steps, f"adding {path.name}")
            archive.writestr(f"logs/{path.name}", _tail(path, params.max_log_bytes))
            ctx.log(f"added {path.name}")
    out_dir = runtime_paths.data_dir() / "diagnostics"
    target = out_dir / f"comfyvn-diagnostics-{time.strftime('%Y%m%d-%H%M%S')}-{ctx.job_id[:8]}.zip"
    atomic_write_bytes(target, buffer.getvalue())
    ctx.progress(1.0, "bundle written")
    ctx.log(f"wrote {target}")
    return {"path": str(target), "bytes": target.stat().st_size, "files": 2 + len(logs)}
