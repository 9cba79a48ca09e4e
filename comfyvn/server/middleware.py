"""One ASGI middleware for what every request needs: a request id, the API token check when the
server is exposed, a request body size limit, and an access log line."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comfyvn.server.auth import OPEN_PATHS, token_matches
from comfyvn.server.errors import envelope

log = logging.getLogger("comfyvn.server.access")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        if self.token and scope["path"] not in OPEN_PATHS and not self._authorised(scope, headers):
            await self._deny(scope, send, request_id)
            return

        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_holder: dict[str, Any] = {}
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, request_id)
            self._log(scope, 413, started, request_id)
            return

        received = 0
        rejected = False

        async def limited_receive() -> Message:
            # A streamed body over the limit: answer 413 ourselves and tell the app the client
            # went away, so it stops reading and nothing of the body is used.
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    rejected = True
                    if "status" not in status_holder:
                        status_holder["status"] = 413
                        await self._too_large(send, request_id)
                    return {"type": "http.disconnect"}
            return message

        async def send_with_id(message: Message) -> None:
            if rejected:
                return  # the 413 answer was already sent
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            if not rejected:
                raise
        self._log(scope, status_holder.get("status", 500), started, request_id)

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and token_matches(self.token or "", auth[7:].strip()):
            return True
        if scope["type"] == "websocket":
            from urllib.parse import parse_qs

            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [None])[0]
            return token_matches(self.token or "", given)
        return False

    async def _deny(self, scope: Scope, send: Send, request_id: str) -> None:
        body = envelope(
            401, "unauthorized",
            "this server is reachable beyond loopback and needs its API token: send "
            "'Authorization: Bearer <token>' (the token is in the server's config folder, file api_token)",
            request_id,
        )
        if scope["type"] == "websocket":
            if "websocket.http.response" in scope.get("extensions", {}):
                await _send_json(send, 401, body, request_id, prefix="websocket.http.response")
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "API token required"})
            return
        await _send_json(send, 401, body, request_id, extra_headers=[(b"www-authenticate", b"Bearer")])

    async def _too_large(self, send: Send, request_id: str) -> None:
        body = envelope(
            413, "payload_too_large",
            f"request body is larger than the limit of {self.max_body_bytes} bytes "
            "(setting server.max_body_bytes)",
            request_id,
        )
        await _send_json(send, 413, body, request_id)

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        log.info(
            "request",
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "request_id": request_id,
            },
        )


async def _send_json(send: Send, status: int, body: dict[str, Any], request_id: str, *,
                     prefix: str = "http.response", extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": f"{prefix}.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-request-id", request_id.encode()),
            *(extra_headers or []),
        ],
    })
    await send({"type": f"{prefix}.body", "body": payload})
