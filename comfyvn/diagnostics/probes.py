"""Health probes of a running server and of this machine, shared by ``comfyvn doctor``,
``scripts/smoke_test.py``, ``scripts/smoke_checks.py`` and ``tools/doctor_phase4.py``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from comfyvn import __version__
from comfyvn.config import baseurl_authority, runtime_paths
from comfyvn.core.store import read_json


@dataclass
class Probe:
    name: str
    ok: bool
    detail: str
    target: str = ""
    duration_ms: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _explain(exc: BaseException, target: str) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (httpx.ConnectError, ConnectionRefusedError, OSError)):
        text += f" (nothing answers at {target}; is the server running? start it with `comfyvn serve`)"
    elif isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        text += " (the server is slow or stalled; check its log)"
    return text


def http_probe(client: httpx.Client, base: str, path: str, *, expect: tuple[str, ...] = ()) -> Probe:
    target = base + path
    started = time.perf_counter()
    try:
        response = client.get(target)
    except httpx.HTTPError as exc:
        return Probe(f"GET {path}", False, _explain(exc, target), target, _ms(started))
    elapsed = _ms(started)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        return Probe(f"GET {path}", False, f"HTTP {response.status_code}: {message or response.text[:200]}",
                     target, elapsed)
    missing = [key for key in expect if key not in body]
    if missing:
        return Probe(f"GET {path}", False, f"answer lacks {', '.join(missing)}", target, elapsed)
    return Probe(f"GET {path}", True, f"HTTP 200 in {elapsed} ms", target, elapsed,
                 {k: body[k] for k in expect})


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _ws_url(base: str, path: str, token: str | None) -> str:
    return base.replace("https://", "wss://").replace("http://", "ws://") + path


async def ws_jobs_probe(base: str, token: str | None, timeout: float) -> Probe:
    target = _ws_url(base, "/jobs/ws", token)
    started = time.perf_counter()
    try:
        async with websockets.connect(target, additional_headers=_headers(token), open_timeout=timeout) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except Exception as exc:
        return Probe("WS /jobs/ws", False, _explain(exc, target), target, _ms(started))
    if first.get("type") != "snapshot":
        return Probe("WS /jobs/ws", False, f"expected a snapshot first, got {first.get('type')!r}", target, _ms(started))
    return Probe("WS /jobs/ws", True, f"snapshot of {len(first.get('jobs', []))} jobs", target, _ms(started))


async def ws_hooks_probe(base: str, token: str | None, timeout: float) -> Probe:
    """Subscribe to the hook stream, emit a test event over REST, and wait for it to arrive."""
    target = _ws_url(base, "/api/modder/hooks/ws", token)
    started = time.perf_counter()
    marker = uuid.uuid4().hex
    try:
        async with websockets.connect(target, additional_headers=_headers(token), open_timeout=timeout) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["modder.on_modder_test"]}))
            deadline = time.monotonic() + timeout
            subscribed = False
            async with httpx.AsyncClient(headers=_headers(token), timeout=timeout) as client:
                while time.monotonic() < deadline:
                    message = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
                    if message.get("type") == "subscribed" and not subscribed:
                        subscribed = True
                        response = await client.post(
                            base + "/api/modder/hooks/test",
                            json={"payload": {"message": "doctor probe", "data": marker}},
                        )
                        if response.status_code != 200:
                            return Probe("WS /api/modder/hooks/ws", False,
                                         f"POST /api/modder/hooks/test answered HTTP {response.status_code}",
                                         target, _ms(started))
                    elif message.get("type") == "event" and message.get("payload", {}).get("data") == marker:
                        return Probe("WS /api/modder/hooks/ws", True, "test event delivered", target, _ms(started))
    except Exception as exc:
        return Probe("WS /api/modder/hooks/ws", False, _explain(exc, target), target, _ms(started))
    return Probe("WS /api/modder/hooks/ws", False, f"test event not delivered within {timeout} s", target,
                 _ms(started))


def local_probes() -> list[Probe]:
    probes = []
    for kind, path in runtime_paths.all_paths().items():
        probes.append(_folder_probe(kind, path))
    for name in ("comfyvn.json", "settings.json", "runtime_state.json"):
        path = runtime_paths.config_file(name)
        if not path.exists():
            probes.append(Probe(f"config {name}", True, "not present (defaults apply)", str(path)))
            continue
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            probes.append(Probe(f"config {name}", False, f"unreadable: {exc}; fix or delete the file", str(path)))
        else:
            probes.append(Probe(f"config {name}", True, "valid JSON", str(path)))
    data = runtime_paths.data_dir()
    anchor = data if data.exists() else data.anchor or "/"
    free = psutil.disk_usage(str(anchor)).free
    probes.append(Probe("disk space", free > 200 * 2**20, f"{free // 2**20} MB free", str(anchor)))
    probes.append(Probe("python", sys.version_info >= (3, 11), platform.python_version(), sys.executable))
    return probes


def _folder_probe(kind: str, path: Path) -> Probe:
    """A runtime folder must be writable, or creatable when it does not exist yet."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return Probe(f"folder {kind}", False, f"{existing} is a file, not a folder", str(path))
    writable = os.access(existing, os.W_OK | os.X_OK)
    if existing == path:
        detail = "writable" if writable else "not writable; fix its permissions or point COMFYVN_*_DIR elsewhere"
    else:
        detail = ("missing; will be created on first start" if writable
                  else f"missing and {existing} is not writable; set COMFYVN_RUNTIME_ROOT to a writable folder")
    return Probe(f"folder {kind}", writable, detail, str(path))


@dataclass
class ToolTarget:
    base: str
    source: str
    token: str | None
    timeout: float


def tool_target(description: str, *, base_flag: str = "--base-url") -> ToolTarget:
    """Parse the options the health tools share and resolve the server, token and timeout."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(base_flag, dest="base", help="server URL (default: the resolved ComfyVN base URL)")
    parser.add_argument("--token", help="API token for servers bound beyond loopback (default: stored token)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per probe")
    args = parser.parse_args()
    base, source = resolve_base(args.base)
    return ToolTarget(base, source, resolve_token(args.token), args.timeout)


def resolve_base(base: str | None) -> tuple[str, str]:
    if base:
        return base.rstrip("/"), "argument"
    found = baseurl_authority.resolve()
    return found.url, found.source


def resolve_token(token: str | None) -> str | None:
    if token:
        return token
    from comfyvn.server.auth import read_token

    return read_token()


def smoke(base: str, token: str | None = None, timeout: float = 5.0) -> list[Probe]:
    with httpx.Client(headers=_headers(token), timeout=timeout) as client:
        return [
            http_probe(client, base, "/health", expect=("status",)),
            http_probe(client, base, "/system/metrics", expect=("cpu", "memory", "disk", "queues")),
        ]


def checks(base: str, token: str | None = None, timeout: float = 5.0) -> list[Probe]:
    """REST and WebSocket checks of a running server."""
    with httpx.Client(headers=_headers(token), timeout=timeout) as client:
        probes = [
            http_probe(client, base, "/health", expect=("status",)),
            http_probe(client, base, "/status", expect=("version", "uptime_seconds", "routers")),
            http_probe(client, base, "/system/metrics", expect=("cpu", "memory", "disk", "queues")),
            http_probe(client, base, "/jobs/poll", expect=("jobs", "counts")),
            http_probe(client, base, "/api/modder/hooks", expect=("events", "history", "plugins")),
            http_probe(client, base, "/api/flags", expect=("flags",)),
            http_probe(client, base, "/api/scenario/schema", expect=("$schema", "$defs")),
            http_probe(client, base, "/api/projects", expect=("items",)),
            http_probe(client, base, "/api/save/list", expect=("saves",)),
        ]

    async def both() -> list[Probe]:
        return list(await asyncio.gather(ws_jobs_probe(base, token, timeout), ws_hooks_probe(base, token, timeout)))

    return probes + asyncio.run(both())


def run_doctor(base: str | None = None, *, token: str | None = None, timeout: float = 5.0,
               source: str | None = None) -> dict[str, Any]:
    url, resolved_from = resolve_base(base)
    source = source or resolved_from
    token = resolve_token(token)
    probes = checks(url, token, timeout) + local_probes()
    saved = read_json(baseurl_authority.runtime_state_path(), default={})
    return {
        "ok": all(p.ok for p in probes),
        "base_url": url,
        "base_url_source": source,
        "comfyvn": __version__,
        "runtime_state": saved if isinstance(saved, dict) else {},
        "probes": [p.as_dict() for p in probes],
        "failed": [p.name for p in probes if not p.ok],
        "generated_at": time.time(),
    }
