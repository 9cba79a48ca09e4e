"""ServerBridge: the Studio's only way to the server.

REST goes through one ``httpx.AsyncClient`` and events through one WebSocket
(``/api/modder/hooks/ws``, subscribed to every ``modder.on_*`` event: jobs, assets, projects...),
both on an asyncio loop in a background thread, so the UI thread never waits on the network.
Results come back on the UI thread: through the ``on_done``/``on_error`` callbacks of
:meth:`ServerBridge.call`, and through the ``online_changed`` and ``event`` signals.

When the server is down, ``online_changed(False, reason)`` fires, calls fail fast with a
:class:`BridgeError`, and the socket retries with backoff (``retry_now()`` retries at once). A call
that times out on a busy server fails alone: the Studio stays online. Any answer while offline
brings it back online (or reconnects the socket at once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import QObject, Signal, Slot
from shiboken6 import isValid

log = logging.getLogger(__name__)

TOPICS = ["modder.on_*", "modder.flags.changed", "modder.settings.changed"]
TIMEOUT = 30.0
MAX_BACKOFF = 10.0


class BridgeError(Exception):
    """A failed call: the server's error envelope (``code``, ``message``), or the connection failure."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.details = message, status, code, details


def _error_of(response: httpx.Response) -> BridgeError:
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {}
    message = body.get("message") or f"HTTP {response.status_code} from {response.request.url.path}"
    return BridgeError(message, status=response.status_code, code=body.get("code"), details=body.get("details"))


def _owned(owner: QObject, callback: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    if callback is None:
        return None

    def run(value: Any) -> None:
        if isValid(owner):
            callback(value)

    return run


class ServerBridge(QObject):
    online_changed = Signal(bool, str)  # online, detail (the reason when offline)
    event = Signal(str, dict)  # hook-bus event name, payload
    _deliver = Signal(object, object)  # (callback, value): runs callback(value) on the UI thread

    def __init__(self, base_url: str, *, token: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.online = False
        self.last_error = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._wake: asyncio.Event | None = None
        self._socket_task: asyncio.Task | None = None
        self._socket_open = False  # the event socket is connected (REST answers alone do not prove events flow)
        self._deliver.connect(self._run_callback)

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT, headers=headers)
            self._wake = asyncio.Event()
            self._socket_task = loop.create_task(self._socket_loop())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._client.aclose())
            loop.close()

        self._thread = threading.Thread(target=run, name="comfyvn-bridge", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            task = self._socket_task
            if task is not None:  # wait for the socket to close: no "Task was destroyed" at exit
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
        thread.join(10)
        self._thread = self._loop = None

    def retry_now(self) -> None:
        """Reconnect at once instead of waiting for the next backoff step."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- REST ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
                files: Any = None, data: Any = None, raw: bool = False) -> concurrent.futures.Future:
        """A future of the JSON answer (or the bytes with ``raw``); a :class:`BridgeError` when the
        server answers 4xx/5xx or cannot be reached."""
        if self._loop is None:  # not started, or stopped while a widget still asks (closing down)
            failed: concurrent.futures.Future = concurrent.futures.Future()
            failed.set_exception(BridgeError("the Studio is not connected to a server (the bridge is stopped)"))
            return failed
        return asyncio.run_coroutine_threadsafe(
            self._request(method, path, params=params, json_body=json_body, files=files, data=data, raw=raw),
            self._loop)

    def call(self, method: str, path: str, *, on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[BridgeError], None] | None = None, owner: QObject | None = None,
             **kwargs: Any) -> concurrent.futures.Future:
        """:meth:`request` with its result handed to ``on_done`` (or its error to ``on_error``) on the UI
        thread. An answer arriving after ``owner`` (default: the widget a bound-method callback belongs
        to) was deleted is dropped: panels may close while a call is under way."""
        future = self.request(method, path, **kwargs)
        if owner is not None:
            on_done = _owned(owner, on_done)
            on_error = _owned(owner, on_error)

        def done(f: concurrent.futures.Future) -> None:
            error = f.exception()
            if error is None and on_done is not None:
                self._deliver.emit(on_done, f.result())
            elif error is not None:
                if on_error is not None:
                    self._deliver.emit(on_error, error if isinstance(error, BridgeError) else BridgeError(str(error)))
                else:
                    log.warning("%s %s failed: %s", method, path, error)

        future.add_done_callback(done)
        return future

    def get(self, path: str, **kwargs: Any) -> concurrent.futures.Future:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> concurrent.futures.Future:
        return self.call("POST", path, json_body=body, **kwargs)

    async def _request(self, method: str, path: str, *, params: Any, json_body: Any, files: Any, data: Any,
                       raw: bool) -> Any:
        assert self._client is not None
        files, opened = await self._open_files(files)
        try:
            response = await self._client.request(method, path, params=params, json=json_body, files=files,
                                                  data=data)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._set_online(False, f"cannot reach {self.base_url}: {exc.__class__.__name__}")
            raise BridgeError(f"the server at {self.base_url} cannot be reached ({exc.__class__.__name__}); "
                              "is it running?") from None
        except httpx.TimeoutException:  # connected, but busy: the server is up, this one call gave up
            raise BridgeError(f"the server at {self.base_url} did not answer {method} {path} within "
                              f"{TIMEOUT:g} s; it may still be working on it (see the Task Manager and Log Hub)"
                              ) from None
        except httpx.HTTPError as exc:  # the connection broke mid-call: the socket finds out whether it is down
            self.retry_now()
            raise BridgeError(f"the call to {self.base_url}{path} failed ({exc.__class__.__name__}); "
                              "try again") from None
        finally:
            for handle in opened:
                handle.close()
        if not self.online:  # an answer: the server is up again
            if self._socket_open:
                self._set_online(True, self.base_url)
            else:
                self.retry_now()  # reconnect the event socket now, which announces it
        if response.status_code >= 400:
            raise _error_of(response)
        if raw:
            return response.content
        return response.json() if response.content else None

    @staticmethod
    async def _open_files(files: Any) -> tuple[Any, list[Any]]:
        """Upload fields given as a :class:`~pathlib.Path` are opened here, off the UI thread (a file on
        a slow disk or a network mount must not freeze the window), and closed after the call."""
        if not isinstance(files, dict) or not any(isinstance(v, Path) for v in files.values()):
            return files, []
        ready, opened = dict(files), []
        try:
            for field, value in files.items():
                if isinstance(value, Path):
                    handle = await asyncio.to_thread(open, value, "rb")
                    opened.append(handle)
                    ready[field] = (value.name, handle)
        except OSError as exc:
            for handle in opened:
                handle.close()
            raise BridgeError(f"cannot open {value}: {exc.strerror or exc}") from None
        return ready, opened

    @Slot(object, object)
    def _run_callback(self, callback: Callable[[Any], None], value: Any) -> None:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject) and not isValid(owner):
            return  # the widget that asked is gone
        callback(value)

    # -- events --------------------------------------------------------------------------------

    def _set_online(self, online: bool, detail: str) -> None:
        if online != self.online or (not online and detail != self.last_error):
            self.online = online
            self.last_error = "" if online else detail
            self._deliver.emit(lambda _: self.online_changed.emit(online, detail), None)

    async def _socket_loop(self) -> None:
        import websockets

        url = self.base_url.replace("http", "ws", 1) + "/api/modder/hooks/ws"
        if self.token:
            url += f"?token={self.token}"
        backoff = 0.5
        assert self._wake is not None
        while True:
            try:
                async with websockets.connect(url, open_timeout=5, ping_interval=20, max_size=2**22) as socket:
                    await socket.send(json.dumps({"type": "subscribe", "topics": TOPICS}))
                    self._socket_open = True
                    self._set_online(True, self.base_url)
                    backoff = 0.5
                    async for message in socket:
                        self._on_message(message)
                reason = "the server closed the event socket"
            except asyncio.CancelledError:
                self._socket_open = False
                raise
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                reason = f"cannot reach {self.base_url} ({exc.__class__.__name__})"
            self._socket_open = False
            self._set_online(False, reason)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _on_message(self, message: str | bytes) -> None:
        try:
            envelope = json.loads(message)
        except ValueError:
            return
        if isinstance(envelope, dict) and envelope.get("type") == "event":
            payload = envelope.get("payload")
            self._deliver.emit(lambda _: self.event.emit(str(envelope.get("event")),
                                                          payload if isinstance(payload, dict) else {}), None)
