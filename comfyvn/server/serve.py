"""Run the server: bind, record the address for clients, serve with uvicorn, clean up."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import uvicorn

from comfyvn.config import baseurl_authority
from comfyvn.core.logs import setup_logging
from comfyvn.server.auth import ensure_token, is_loopback_host, token_path

log = logging.getLogger(__name__)

DEFAULT_APP = "comfyvn.server.app:create_app"


class PortInUse(OSError):
    pass


class _Server(uvicorn.Server):
    """uvicorn's server, telling WebSocket clients goodbye before connections are closed.

    A SIGINT/SIGTERM stops the server gracefully and the process then exits normally (uvicorn
    would re-raise the signal afterwards, which turns a clean stop into a traceback).
    """

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def shutdown(self, sockets: Any = None) -> None:
        from comfyvn.server.app import before_shutdown

        for hook in list(before_shutdown):
            try:
                await asyncio.wait_for(hook(), timeout=2.0)
            except Exception:
                log.exception("Shutdown hook failed")
        await asyncio.sleep(0.05)  # let writer tasks flush the goodbye
        await super().shutdown(sockets=sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "posix":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        try:
            suggestion = f"; port {baseurl_authority.find_open_port(host, port + 1)} is free"
        except OSError:
            suggestion = ""
        raise PortInUse(
            f"cannot listen on {host}:{port} ({exc.strerror}){suggestion}. "
            "Pick another with --port (or --server-port), or stop the program using it."
        ) from exc
    sock.set_inheritable(True)
    return sock


def announce_token(host: str, echo: Any = print) -> None:
    """Beyond loopback a token is required: create it on first start and print it once."""
    if is_loopback_host(host):
        return
    token, created = ensure_token()
    if created:
        echo(f"API token created (stored in {token_path()}); clients must send 'Authorization: Bearer {token}'")
    else:
        echo(f"API token required for {host}; it is stored in {token_path()}")


def serve(
    *,
    host: str = baseurl_authority.DEFAULT_HOST,
    port: int = baseurl_authority.DEFAULT_PORT,
    app: str = DEFAULT_APP,
    factory: bool | None = None,
    reload: bool = False,
    log_level: str | None = None,
    echo: Any = print,
) -> None:
    """Serve until interrupted. Port 0 picks a free port. Raises :class:`PortInUse`."""
    setup_logging(console=True)
    os.environ["COMFYVN_SERVER_HOST"] = host
    announce_token(host, echo)
    factory = factory if factory is not None else app == DEFAULT_APP
    level = (log_level or os.environ.get("COMFYVN_SERVER_LOG_LEVEL") or "info").lower()
    common = dict(factory=factory, log_level=level, log_config=None, access_log=False,
                  ws_ping_interval=20.0, ws_ping_timeout=20.0, timeout_graceful_shutdown=10)
    if reload:
        if port == 0:
            port = baseurl_authority.find_open_port(host, baseurl_authority.DEFAULT_PORT)
        url = baseurl_authority.write_runtime_state(host, port)
        os.environ["COMFYVN_BASE_URL"] = url
        echo(f"ComfyVN server (auto-reload) at {url}")
        try:
            uvicorn.run(app, host=host, port=port, reload=True, **common)
        finally:
            baseurl_authority.clear_runtime_state()
        return
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    url = baseurl_authority.write_runtime_state(host, bound_port)
    os.environ["COMFYVN_BASE_URL"] = url  # inherited by every child process
    echo(f"ComfyVN server listening on {host}:{bound_port} -> {url} (API docs at {url}/docs)")
    server = _Server(uvicorn.Config(app, **common))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        baseurl_authority.clear_runtime_state()
