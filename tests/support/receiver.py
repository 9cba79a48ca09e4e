"""A small loopback HTTP receiver for webhook tests.

``WebhookReceiver`` runs a ``ThreadingHTTPServer`` on 127.0.0.1 in a background thread and records
every request (method, path, headers, raw body, arrival time). Its answers are scripted: queue
status codes with :meth:`respond_with` (e.g. ``respond_with(500, 500)`` answers 500 twice, then
the default 200)::

    with WebhookReceiver() as receiver:
        receiver.respond_with(500, 500)
        ...  # make the product POST to receiver.url("/hook")
        requests = receiver.wait_for(3)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    received_at: float = field(default_factory=time.monotonic)
    status: int = 200  # what the receiver answered

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WebhookReceiver:
    def __init__(self, default_status: int = 200) -> None:
        self.default_status = default_status
        self.requests: list[ReceivedRequest] = []
        self._script: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._cond:
                    status = receiver._script.popleft() if receiver._script else receiver.default_status
                    receiver.requests.append(ReceivedRequest(
                        method="POST",
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        status=status,
                    ))
                    receiver._cond.notify_all()
                answer = b'{"ok":true}' if 200 <= status < 300 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- use --------------------------------------------------------------------------------------
    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond_with(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (in order), then ``default_status``."""
        with self._cond:
            self._script.extend(statuses)

    def received(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
                self._cond.wait(remaining)
            return list(self.requests)
