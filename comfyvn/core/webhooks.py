"""Signed webhooks: hook-bus events POSTed to URLs modders register.

Each delivery is the event envelope as JSON, signed with the webhook's secret::

    X-ComfyVN-Timestamp: 1764000000
    X-ComfyVN-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Receivers verify with :func:`verify` (constant-time). Failed deliveries (network errors, 408, 429,
5xx) are retried with exponential backoff; every attempt is kept in a bounded delivery log.
Targets must resolve to public addresses unless their host, address or network is listed in the
``modder.webhooks.allow`` setting, so a webhook cannot be aimed at internal services by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from comfyvn import __version__
from comfyvn.config import runtime_paths
from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import Forbidden, InvalidInput, NotFound
from comfyvn.core.modder_hooks import Envelope, HookBus, UndeclaredEvent
from comfyvn.core.store import JsonDocument

log = logging.getLogger(__name__)

STORE_FILE = "webhooks.json"
SIGNATURE_HEADER = "X-ComfyVN-Signature"
TIMESTAMP_HEADER = "X-ComfyVN-Timestamp"
RETRY_STATUSES = frozenset({408, 425, 429})
DELIVERY_WORKERS = 4


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300,
           now: float | None = None) -> bool:
    """True when ``signature`` is valid for ``body`` and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# -- target policy -------------------------------------------------------------------------------
def _allowed_by_list(host: str, addresses: Iterable[str], allow: Iterable[str]) -> bool:
    host = host.lower()
    for entry in allow:
        entry = str(entry).strip().lower()
        if not entry:
            continue
        if entry == host:
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if any(ipaddress.ip_address(a) in network for a in addresses):
            return True
    return False


def check_target(url: str, allow: Iterable[str], addresses: Iterable[str] | None = None) -> None:
    """Raise unless ``url`` may receive webhooks. ``addresses`` are the resolved IPs of its host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook url must be an http(s) URL with a host, got {url!r}", details={"field": "url"})
    host = parts.hostname
    if addresses is None:
        addresses = resolve(host)
    addresses = list(addresses)
    if not addresses:
        raise InvalidInput(f"webhook host '{host}' does not resolve", details={"field": "url"})
    allow = list(allow)
    if _allowed_by_list(host, addresses, allow):
        return
    internal = [a for a in addresses if not ipaddress.ip_address(a).is_global]
    if internal:
        raise Forbidden(
            f"webhook target '{host}' resolves to internal address {internal[0]}; add the host or "
            "network to the modder.webhooks.allow setting to permit it",
            code="webhook_target_not_allowed",
            details={"host": host, "addresses": internal},
        )


def resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return []
    return sorted({info[4][0] for info in infos})


# -- service -------------------------------------------------------------------------------------
@dataclass
class Delivery:
    id: str
    webhook_id: str
    envelope: Envelope
    attempt: int = 1


class WebhookService:
    def __init__(self, *, settings: SettingsManager, bus: HookBus, enabled: Callable[[], bool],
                 path: Path | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.enabled = enabled
        self._path = path
        self._log: deque[dict[str, Any]] = deque(maxlen=1000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._hooks_cache: tuple[Any, dict[str, dict[str, Any]]] | None = None

    @property
    def path(self) -> Path:
        return self._path or runtime_paths.config_file(STORE_FILE)

    def _doc(self) -> JsonDocument:
        return JsonDocument(self.path, mode=0o600)

    def _config(self) -> dict[str, Any]:
        return self.settings.get("modder.webhooks")

    # -- records --------------------------------------------------------------------------------
    def _records(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
            signature: Any = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            signature = None
        cache = self._hooks_cache
        if cache is not None and cache[0] == signature:
            return cache[1]
        records = self._doc().read().get("webhooks", {})
        self._hooks_cache = (signature, records)
        return records

    @staticmethod
    def public(record: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in record.items() if k != "secret"}
        shown["secret_hint"] = "..." + record["secret"][-4:]
        return shown

    def list(self) -> list[dict[str, Any]]:
        return [self.public(r) for _, r in sorted(self._records().items())]

    def get(self, webhook_id: str) -> dict[str, Any]:
        record = self._records().get(webhook_id)
        if record is None:
            raise NotFound(f"webhook '{webhook_id}' was not found", details={"kind": "webhook", "id": webhook_id})
        return record

    def register(self, *, url: str, events: list[str], secret: str | None = None,
                 description: str = "") -> dict[str, Any]:
        """Store a webhook and return it with its secret (the only time the secret is shown)."""
        if not events:
            raise InvalidInput("give at least one event name or pattern, e.g. 'on_job_*'", details={"field": "events"})
        for pattern in events:
            if not any(ch in pattern for ch in "*?["):
                try:
                    self.bus.spec(pattern)
                except UndeclaredEvent as exc:
                    raise InvalidInput(exc.message, details={"field": "events", "event": pattern}) from exc
        check_target(url, self._config().get("allow", []))
        if secret is not None and len(secret) < 16:
            raise InvalidInput("webhook secret must be at least 16 characters", details={"field": "secret"})
        record = {
            "id": uuid.uuid4().hex[:16],
            "url": url,
            "events": sorted(set(events)),
            "description": description,
            "secret": secret or secrets.token_hex(32),
            "created_at": time.time(),
        }
        self._doc().update({"webhooks": {record["id"]: record}})
        self._hooks_cache = None
        return record

    def delete(self, webhook_id: str) -> dict[str, Any]:
        record = self.get(webhook_id)

        def drop(data: dict[str, Any]) -> None:
            data.get("webhooks", {}).pop(webhook_id, None)

        self._doc().mutate(drop)
        self._hooks_cache = None
        return self.public(record)

    def deliveries(self, webhook_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        # list() copies the deque atomically: the server loop appends while handlers read
        items = [d for d in list(self._log) if webhook_id is None or d["webhook_id"] == webhook_id]
        return items[-limit:]

    # -- delivery -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": f"ComfyVN/{__version__}"})
        self._workers = [asyncio.create_task(self._worker()) for _ in range(DELIVERY_WORKERS)]
        self._unsubscribe = self.bus.subscribe("*", self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def _on_event(self, envelope: Envelope) -> None:
        if self._loop is None or not self._records() or not self.enabled():
            return
        for webhook_id, record in self._records().items():
            if any(fnmatch.fnmatchcase(envelope["event"], p) for p in record.get("events", [])):
                delivery = Delivery(id=uuid.uuid4().hex, webhook_id=webhook_id, envelope=envelope)
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._enqueue, delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        if self._queue is not None:
            self._queue.put_nowait(delivery)

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            except Exception:
                log.exception("Webhook delivery crashed", extra={"webhook_id": delivery.webhook_id})

    async def _attempt(self, delivery: Delivery) -> None:
        record = self._records().get(delivery.webhook_id)
        if record is None:
            return  # deleted since the event
        config = self._config()
        body = json.dumps(delivery.envelope, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-ComfyVN-Event": delivery.envelope["event"],
            "X-ComfyVN-Delivery": delivery.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(record["secret"], timestamp, body),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            host = urlsplit(record["url"]).hostname or ""
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            check_target(record["url"], config.get("allow", []), sorted({i[4][0] for i in infos}))
            assert self._client is not None
            response = await self._client.post(
                record["url"], content=body, headers=headers, timeout=float(config.get("timeout_seconds", 10.0))
            )
            status_code = response.status_code
            if 200 <= status_code < 300:
                self._record(delivery, "delivered", status_code, None, started)
                return
            error = f"HTTP {status_code}"
            retry = status_code in RETRY_STATUSES or status_code >= 500
        except Forbidden as exc:
            error, retry = exc.message, False
        except (httpx.HTTPError, OSError) as exc:
            error, retry = f"{type(exc).__name__}: {exc}", True
        max_attempts = int(config.get("max_attempts", 4))
        if retry and delivery.attempt < max_attempts:
            self._record(delivery, "retrying", status_code, error, started)
            delay = float(config.get("backoff_seconds", 0.5)) * (2 ** (delivery.attempt - 1))
            delivery.attempt += 1
            assert self._loop is not None
            self._loop.call_later(delay, self._enqueue, delivery)
        else:
            self._record(delivery, "failed", status_code, error, started)

    def _record(self, delivery: Delivery, outcome: str, status_code: int | None, error: str | None,
                started: float) -> None:
        entry = {
            "delivery_id": delivery.id,
            "webhook_id": delivery.webhook_id,
            "event": delivery.envelope["event"],
            "attempt": delivery.attempt,
            "outcome": outcome,
            "status_code": status_code,
            "error": error,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "timestamp": time.time(),
        }
        self._log.append(entry)
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        log.log(level, "Webhook delivery", extra=entry)
