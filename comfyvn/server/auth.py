"""API token for servers bound beyond loopback.

A server on 127.0.0.1 needs no credentials. Bound to any other address, every request (except
``/health`` and ``/healthz``) must carry ``Authorization: Bearer <token>`` (WebSockets may use
``?token=`` instead, as browsers cannot set headers there). The token is generated on first need,
stored in ``<config>/api_token`` (mode 0600) and printed once; ``COMFYVN_API_TOKEN`` overrides it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from comfyvn.config import runtime_paths
from comfyvn.core.store import atomic_write_bytes

TOKEN_FILE = "api_token"
OPEN_PATHS = frozenset({"/health", "/healthz"})


def token_path() -> Path:
    return runtime_paths.config_file(TOKEN_FILE)


def read_token() -> str | None:
    """The token clients should send: ``COMFYVN_API_TOKEN`` or the stored one."""
    explicit = os.environ.get("COMFYVN_API_TOKEN", "").strip()
    if explicit:
        return explicit
    try:
        stored = token_path().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return stored or None


def ensure_token() -> tuple[str, bool]:
    """Return ``(token, created)``; creates and stores a token when there is none."""
    existing = read_token()
    if existing:
        return existing, False
    token = secrets.token_urlsafe(32)
    atomic_write_bytes(token_path(), (token + "\n").encode(), mode=0o600)
    return token, True


def rotate_token() -> str:
    token = secrets.token_urlsafe(32)
    atomic_write_bytes(token_path(), (token + "\n").encode(), mode=0o600)
    return token


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected.encode(), given.encode())  # type: ignore[union-attr]
