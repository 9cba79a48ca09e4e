"""Find ComfyUI servers to add as compute providers: probe candidate ``http://host:port`` roots.

Each candidate is probed concurrently with :func:`comfyvn.compute.providers.check` (``GET
{base}/system_stats``, the provider health check); only the ones that answer as ComfyUI are
returned. Nothing is registered here: the caller adds a found server with ``POST /api/providers``.

The defaults try this machine on ComfyUI's default port (8188), the ComfyUI desktop app's (8000)
and the next ports a second ComfyUI would take (8189, 8190). The same server seen through
several loopback names (``127.0.0.1`` and ``localhost``) is listed once, the other URLs as aliases.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from comfyvn.compute.providers import Provider, ProviderRegistry, check, is_loopback
from comfyvn.core.errors import InvalidInput

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_PORTS = (8188, 8000, 8189, 8190)
MAX_CANDIDATES = 64
DEFAULT_TIMEOUT = 1.0
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 5.0
PROBE_ID = "discovery"  # the provider id the probes log under
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def clamp_timeout(timeout: float | None) -> float:
    """The per-probe timeout in seconds: the default when unset, else kept within 0.1-5 s."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    return min(MAX_TIMEOUT, max(MIN_TIMEOUT, float(timeout)))


def url_host(host: str) -> str:
    """``host`` as it goes into an http URL (IPv6 in brackets); InvalidInput for anything else
    than a host name or an IP address (no scheme, port, path or user)."""
    text = str(host).strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        labels = bare.rstrip(".").split(".")
        if not bare or len(bare) > 253 or not all(_LABEL.match(label) for label in labels):
            raise InvalidInput(f"{host!r} is not a host name or an IP address (give just the host, e.g. "
                               "'192.168.1.20' or 'gpu-box.local')", details={"field": "hosts", "host": host}) from None
        return bare.lower()
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def candidates(hosts: Sequence[str] | None = None, ports: Sequence[int] | None = None) -> list[str]:
    """The base URLs to probe, port by port (the preferred port first), without duplicates."""
    host_list = _unique(url_host(h) for h in (DEFAULT_HOSTS if hosts is None else hosts))
    port_list = _unique(int(p) for p in (DEFAULT_PORTS if ports is None else ports))
    if not host_list or not port_list:
        raise InvalidInput("give at least one host and one port", details={"field": "hosts" if not host_list else "ports"})
    bad = [p for p in port_list if not 1 <= p <= 65535]
    if bad:
        raise InvalidInput(f"port {bad[0]} is outside 1-65535", details={"field": "ports", "port": bad[0]})
    count = len(host_list) * len(port_list)
    if count > MAX_CANDIDATES:
        raise InvalidInput(f"{len(host_list)} hosts x {len(port_list)} ports make {count} candidates; "
                           f"at most {MAX_CANDIDATES} are probed at once", details={"field": "ports", "count": count})
    return [f"http://{host}:{port}" for port in port_list for host in host_list]


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def server_key(base_url: str) -> tuple[str, str, int]:
    """Which server a URL names, loopback names counted as one host: ``(scheme, host, port)``."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    return (parts.scheme, "loopback" if is_loopback(host) else host, port)


def _probe(base_url: str, timeout: float) -> dict[str, Any]:
    return check(Provider(id=PROBE_ID, kind="comfyui", base_url=base_url), timeout=timeout, quiet=True)


def discover(hosts: Sequence[str] | None = None, ports: Sequence[int] | None = None, timeout: float | None = None,
             registry: ProviderRegistry | None = None) -> dict[str, Any]:
    """Probe every candidate at once; ``{found: [{base_url, aliases, system, devices, registered}],
    tried, timeout}``. ``registered`` is the id of the provider already using that server, else None."""
    urls = candidates(hosts, ports)
    seconds = clamp_timeout(timeout)
    with ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="comfyvn-discover") as pool:
        results = list(pool.map(lambda url: _probe(url, seconds), urls))
    known = {server_key(p.base_url): p.id for p in (registry or ProviderRegistry()).list() if p.kind == "comfyui"}
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    for url, result in zip(urls, results, strict=True):
        if result["status"] != "healthy":
            continue
        key = server_key(url)
        if key in found:
            found[key]["aliases"].append(url)
            continue
        found[key] = {"base_url": url, "aliases": [], "system": result["system"],
                      "devices": result["devices"],
                      "registered": known.get(key)}
    return {"found": list(found.values()), "tried": len(urls), "timeout": seconds}
