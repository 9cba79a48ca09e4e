"""Where is the ComfyVN server? One answer for the launcher, the Studio, the CLI and the tools.

Resolution order (first hit wins):

1. ``COMFYVN_BASE_URL`` (or ``COMFYVN_SERVER_BASE``) in the environment;
2. the runtime state file ``<config>/runtime_state.json`` written by the running server;
3. persisted settings (``server.base_url``, else ``server.host`` + ``server.port`` in ``settings.json``);
4. ``server.base_url`` / ``server.host`` + ``server.port`` in ``<config>/comfyvn.json``;
5. the default ``http://127.0.0.1:8001``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core.store import JsonDocument, atomic_write_json, read_json

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
DEFAULT_BASE_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
RUNTIME_STATE_FILE = "runtime_state.json"
ENV_NAMES = ("COMFYVN_BASE_URL", "COMFYVN_SERVER_BASE")


@dataclass(frozen=True)
class Resolution:
    url: str
    source: str  # "env:COMFYVN_BASE_URL", "runtime_state", "settings", "comfyvn.json", "default"


def connectable_host(host: str) -> str:
    """A host a client can connect to: wildcard binds become loopback."""
    host = (host or "").strip()
    if host in ("", "0.0.0.0", "*"):
        return DEFAULT_HOST
    if host in ("::", "[::]"):
        return "::1"
    return host


def make_url(host: str, port: int, scheme: str = "http") -> str:
    host = connectable_host(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{int(port)}"


def runtime_state_path() -> Path:
    return runtime_paths.config_file(RUNTIME_STATE_FILE)


def _from_server_section(data: dict[str, Any]) -> str | None:
    server = data.get("server")
    if not isinstance(server, dict):
        return None
    if server.get("base_url"):
        return str(server["base_url"]).rstrip("/")
    if server.get("port"):
        return make_url(str(server.get("host") or DEFAULT_HOST), int(server["port"]))
    return None


def resolve() -> Resolution:
    for name in ENV_NAMES:
        value = os.environ.get(name, "").strip()
        if value:
            return Resolution(value.rstrip("/"), f"env:{name}")
    state = read_json(runtime_state_path(), default={})
    if isinstance(state, dict):
        url = _from_server_section(state)
        if url:
            return Resolution(url, "runtime_state")
    from comfyvn.config.settings import SettingsManager

    url = _from_server_section(SettingsManager().stored())
    if url:
        return Resolution(url, "settings")
    url = _from_server_section(JsonDocument(runtime_paths.config_file("comfyvn.json")).read())
    if url:
        return Resolution(url, "comfyvn.json")
    return Resolution(DEFAULT_BASE_URL, "default")


def default_base_url() -> str:
    """The base URL clients should use right now."""
    return resolve().url


def write_runtime_state(host: str, port: int) -> str:
    """Record the address a server just bound (wildcards made connectable) and return its URL."""
    url = make_url(host, port)
    atomic_write_json(
        runtime_state_path(),
        {"server": {"base_url": url, "bind_host": host, "port": int(port), "pid": os.getpid(),
                    "started_at": time.time()}},
    )
    return url


def clear_runtime_state(pid: int | None = None) -> None:
    """Remove the runtime state if it belongs to ``pid`` (default: this process)."""
    path = runtime_state_path()
    state = read_json(path, default={})
    owner = state.get("server", {}).get("pid") if isinstance(state, dict) else None
    if owner == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name == "posix":  # match the server's own bind (TIME_WAIT ports are usable)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_open_port(host: str = DEFAULT_HOST, start: int = DEFAULT_PORT, attempts: int = 100) -> int:
    """The first port from ``start`` on that ``host`` can bind; ``start=0`` asks the OS for any."""
    if start == 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    for port in range(start, min(start + attempts, 65536)):
        if port_is_free(host, port):
            return port
    raise OSError(f"no free port on {host} between {start} and {start + attempts - 1}")
