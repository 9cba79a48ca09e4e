"""One broadcaster for every WebSocket stream (jobs, modder hooks).

Messages are published from any thread; each is serialised once and offered to every client whose
filter matches. A client has a bounded queue drained by its own writer task, so a slow client
never stalls the publisher: when its queue overflows it is dropped with close code 1013 and a
reason. Clients get heartbeats while idle and, on shutdown, a ``{"type": "shutdown"}`` message
followed by close code 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
FORCE_CLOSE_AFTER = 2.0  # seconds a dropped client gets to receive its close frame

Filter = Callable[[str], bool]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


class Client:
    """One connection's outgoing mailbox: a bounded deque drained by the writer task.

    ``None`` in the mailbox tells the writer to close with ``close_reason``.
    """

    def __init__(self, websocket: WebSocket, queue_size: int) -> None:
        self.websocket = websocket
        self.queue_size = queue_size
        self.pending: deque[str | None] = deque()
        self.filter: Filter = lambda topic: True
        self.close_reason: tuple[int, str] | None = None
        self.sent = 0
        self.last_sent = time.monotonic()
        self.task: asyncio.Task[Any] | None = None  # the connection's serve task
        self.writer: asyncio.Task[None] | None = None
        self.forced = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, text: str | None) -> bool:
        if text is not None and len(self.pending) >= self.queue_size:
            return False
        self.pending.append(text)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def next_batch(self) -> None:
        """Wait until something is in the mailbox."""
        while not self.pending:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class Broadcaster:
    def __init__(self, name: str, *, queue_size: int = 1024, heartbeat_interval: float = 20.0) -> None:
        self.name = name
        self.queue_size = queue_size
        self.heartbeat_interval = heartbeat_interval
        self.clients: set[Client] = set()
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (call from a coroutine running on it)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._heartbeat_task = loop.create_task(self._heartbeats())

    # -- publishing -----------------------------------------------------------------------------
    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Offer ``message`` to matching clients; callable from any thread."""
        if not self.clients or self._loop is None:
            return
        text = encode(message)
        if threading.get_ident() == self._loop_thread:
            # queued like messages from other threads, so none overtakes one published before it
            self._loop.call_soon(self._fanout, topic, text)
        else:
            with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
                self._loop.call_soon_threadsafe(self._fanout, topic, text)

    def _fanout(self, topic: str, text: str) -> None:
        for client in list(self.clients):
            if client.close_reason is None and client.filter(topic) and not client.offer(text):
                self._drop(
                    client,
                    CLOSE_TRY_AGAIN_LATER,
                    f"slow consumer: more than {self.queue_size} undelivered messages",
                )

    def _drop(self, client: Client, code: int, reason: str) -> None:
        self.dropped += 1
        _finish(client, code, reason, discard_pending=True)
        self.clients.discard(client)
        log.warning("WebSocket client dropped", extra={"stream": self.name, "reason": reason})
        if self._loop is not None:
            self._loop.call_later(FORCE_CLOSE_AFTER, self._force_close, client)

    @staticmethod
    def _force_close(client: Client) -> None:
        """A dropped client whose socket buffer is full never lets the close frame out: end the
        connection by ending its handler (uvicorn then closes the transport)."""
        if client.writer is not None and not client.writer.done():
            client.forced = True
            client.writer.cancel()
            if client.task is not None and not client.task.done():
                client.task.cancel()

    # -- serving --------------------------------------------------------------------------------
    async def serve(
        self,
        websocket: WebSocket,
        *,
        greeting: Callable[[], list[dict[str, Any]]] | None = None,
        on_message: Callable[[Client, dict[str, Any]], Awaitable[None]] | None = None,
        setup: Callable[[Client], None] | None = None,
    ) -> None:
        """Run one client's connection until it disconnects or is dropped.

        ``greeting()`` is called right when the client joins, with no await in between, so a
        snapshot it builds and the updates that follow never leave a gap.
        """
        await websocket.accept()
        client = Client(websocket, self.queue_size)
        if setup is not None:
            setup(client)
        # Join before the greeting is built: an update published meanwhile (from any thread) is
        # queued for delivery after the greeting instead of being lost (see publish()).
        self.clients.add(client)
        try:
            for message in greeting() if greeting else []:
                client.offer(encode(message))
        except BaseException:
            self.clients.discard(client)
            raise
        client.task = asyncio.current_task()
        writer = client.writer = asyncio.create_task(self._writer(client))
        try:
            while True:
                try:
                    raw = await websocket.receive_text()
                except (WebSocketDisconnect, RuntimeError):
                    break
                try:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        raise ValueError("a message must be a JSON object")
                except ValueError as exc:
                    await self.send(client, error_message("bad_message", f"could not read message: {exc}"))
                    continue
                if message.get("type") == "ping":
                    await self.send(client, {"type": "pong", "timestamp": time.time()})
                elif message.get("type") == "pong":
                    continue
                elif on_message is not None:
                    await on_message(client, message)
                else:
                    await self.send(client, error_message("bad_message", f"unknown message type {message.get('type')!r}"))
        except asyncio.CancelledError:
            if not client.forced:
                raise
        finally:
            self.clients.discard(client)
            if client.close_reason is None:
                _finish(client, 1000, "")
            if not client.forced:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(writer, timeout=2.0)

    async def send(self, client: Client, message: dict[str, Any]) -> None:
        """Queue a direct reply to one client (keeps ordering with broadcast messages)."""
        if not client.offer(encode(message)):
            self._drop(client, CLOSE_TRY_AGAIN_LATER, f"slow consumer: more than {self.queue_size} undelivered messages")

    async def _writer(self, client: Client) -> None:
        send_text = client.websocket.send_text
        try:
            while True:
                await client.next_batch()
                while client.pending:
                    text = client.pending.popleft()
                    if text is None:
                        raise _Closing()
                    await send_text(text)
                    client.sent += 1
                client.last_sent = time.monotonic()
        except _Closing:
            pass
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        code, reason = client.close_reason or (1000, "")
        if client.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await client.websocket.close(code=code, reason=reason)

    async def _heartbeats(self) -> None:
        """Send a heartbeat to every client that has been idle for a whole interval."""
        while True:
            await asyncio.sleep(self.heartbeat_interval / 2)
            idle_since = time.monotonic() - self.heartbeat_interval
            beat = None
            for client in list(self.clients):
                if client.last_sent < idle_since and not client.pending:
                    beat = beat or encode({"type": "heartbeat", "timestamp": time.time()})
                    client.offer(beat)

    async def close_all(self, reason: str = "server shutting down") -> None:
        """Tell every client the server is going away, then close with 1001."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        notice = encode({"type": "shutdown", "reason": reason, "timestamp": time.time()})
        for client in list(self.clients):
            self.clients.discard(client)
            _finish(client, CLOSE_GOING_AWAY, reason, final=notice)
        await asyncio.sleep(0)

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.clients),
            "dropped": self.dropped,
            "queued": sum(len(c.pending) for c in self.clients),
        }


class _Closing(Exception):
    pass


def _finish(client: Client, code: int, reason: str, *, final: str | None = None, discard_pending: bool = False) -> None:
    """Make the client's writer send ``final`` (if any) after what is queued, then close."""
    client.close_reason = (code, reason)
    if discard_pending:
        client.pending.clear()
    if final:
        client.pending.append(final)
    client.offer(None)


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}
