"""The ComfyUI bridge: submit API-format graphs, follow them over one long-lived WebSocket per
server, fall back to ``/history`` when the socket stalls, download the outputs.

Protocol facts: ``docs/render-comfyui.md`` and the shared reference. In short:
- we choose ``client_id`` (one per server) and ``prompt_id`` (one per render, reused by a retried
  POST, so a retry never queues the graph twice);
- completion is ``executing {node: null, prompt_id: ours}``; ``execution_success``,
  ``execution_error`` and ``execution_interrupted`` before it say how it ended; messages without a
  ``prompt_id`` (after a reconnect) belong to the prompt that is running;
- the outputs are read from ``/history/{prompt_id}`` once the prompt ended (cached runs re-report old
  file names there too) and downloaded through ``/view``;
- when the socket says nothing for ``stall_seconds`` the bridge polls ``/history`` instead (in
  hardened mode every ``poll_seconds`` of a run as well, socket or not), and a server that stays
  unreachable for ``lost_seconds`` fails the render;
- messages shown to users are sanitised: no server paths, no tracebacks (full detail in the log).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from comfyvn.core.errors import Conflict, InvalidInput, UpstreamError

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
# the folders of a path (spaces allowed), Windows (C:\..., \\server\share\...) or POSIX (/...)
WINDOWS_DIRS = re.compile(r"(?:\b[A-Za-z]:\\|\\\\)(?:[^\\\n'\"<>|]*\\)+")
POSIX_DIRS = re.compile(r"(?<![\w.~])/(?:[^/\n'\"():]*/)+")
MESSAGE_LIMIT = 300
EXECUTION_EVENTS = frozenset({"execution_start", "execution_cached", "executing", "progress", "progress_state",
                              "executed", "execution_success", "execution_error", "execution_interrupted"})


def sanitise(text: object) -> str:
    """A server message fit for users: the folders of absolute paths left out (the file name stays),
    one line, short."""
    line = " ".join(str(text or "").split())
    line = WINDOWS_DIRS.sub(lambda _: "…\\", line)
    line = POSIX_DIRS.sub("…/", line)
    return line if len(line) <= MESSAGE_LIMIT else line[:MESSAGE_LIMIT] + "…"


@dataclass
class Output:
    node: str
    filename: str
    subfolder: str
    type: str
    data: bytes = b""


@dataclass
class Result:
    prompt_id: str
    outputs: list[Output]
    cached_nodes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration_sec: float = 0.0
    bytes_tx: int = 0
    bytes_rx: int = 0


@dataclass
class _Prompt:
    """What the socket told us about one prompt."""

    prompt_id: str
    nodes: int
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None  # success | error | interrupted
    error: dict[str, Any] | None = None
    cached: list[str] = field(default_factory=list)
    finished_nodes: set[str] = field(default_factory=set)
    step: tuple[float, float] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # node -> output, from `executed` messages
    last_seen: float = field(default_factory=time.monotonic)
    changed: threading.Event = field(default_factory=threading.Event)


class ComfyUIServer:
    """One ComfyUI server: an HTTP client and one WebSocket watcher thread (started on first use)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, stall_seconds: float = 5.0,
                 lost_seconds: float = 30.0, ping_interval: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"ComfyUI address {base_url!r} must be an http(s) URL such as http://127.0.0.1:8188",
                               details={"base_url": base_url})
        self.base_url = base_url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.stall_seconds, self.lost_seconds, self.ping_interval = stall_seconds, lost_seconds, ping_interval
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)
        self._prompts: dict[str, _Prompt] = {}
        self._running: str | None = None  # the prompt the server said it is executing
        self._lock = threading.Lock()
        self._socket: ClientConnection | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self.connected = threading.Event()

    # -- the socket ---------------------------------------------------------------------------
    def _ensure_watcher(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name=f"comfyui-ws {self.base_url}", daemon=True)
                self._thread.start()
        self.connected.wait(2.0)  # usually immediate; if not, history polling covers the gap

    def _watch(self) -> None:
        url = self.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        backoff = 0.1
        while not self._closed.is_set():
            try:
                with connect(url, proxy=None, open_timeout=5, ping_interval=self.ping_interval,
                             ping_timeout=self.ping_interval, max_size=None) as socket:
                    self._socket = socket
                    self.connected.set()
                    backoff = 0.1
                    for message in socket:
                        if isinstance(message, str):
                            self._on_message(message)
            except (OSError, WebSocketException, TimeoutError) as exc:
                log.debug("ComfyUI socket %s closed: %r", url, exc)
            finally:
                self._socket = None
                self.connected.clear()
                self._wake_all()  # waiters check history now rather than after a stall
            if self._closed.wait(backoff):
                return
            backoff = min(backoff * 2, 5.0)

    def _wake_all(self) -> None:
        with self._lock:
            for prompt in self._prompts.values():
                prompt.changed.set()

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind, data = message["type"], message.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if kind not in EXECUTION_EVENTS:  # `status` and other broadcasts say nothing about our prompt
            return
        with self._lock:
            if kind == "execution_start" and prompt_id:
                self._running = prompt_id
            target = self._prompts.get(prompt_id or self._running or "")
            if target is None:
                return
            target.last_seen = time.monotonic()
            if kind == "execution_cached":
                target.cached = [str(n) for n in data.get("nodes") or []]
            elif kind == "executing":
                node = data.get("node")
                if node is None and prompt_id == target.prompt_id:
                    self._running = None
                    target.done.set()
                elif node is not None:
                    target.step = None
            elif kind == "progress_state":
                nodes = data.get("nodes") or {}
                target.finished_nodes = {n for n, s in nodes.items() if isinstance(s, dict) and s.get("state") == "finished"}
            elif kind == "progress":
                target.step = (float(data.get("value") or 0), float(data.get("max") or 1))
            elif kind == "executed" and data.get("node") is not None:
                target.outputs[str(data["node"])] = data.get("output") or {}
            elif kind == "execution_success":
                target.outcome = "success"
            elif kind == "execution_error":
                target.outcome, target.error = "error", data
            elif kind == "execution_interrupted":
                target.outcome = "interrupted"
            target.changed.set()

    def busy(self) -> bool:
        """Whether a render is waiting on this server right now."""
        with self._lock:
            return bool(self._prompts)

    def close(self) -> None:
        self._closed.set()
        socket = self._socket
        if socket is not None:
            socket.close()
        self.http.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    # -- REST -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("ComfyUI %s %s%s failed: %r", method, self.base_url, path, exc)
            raise UpstreamError(f"cannot reach ComfyUI at {self.base_url}: is it running?", code="comfyui_unreachable",
                                details={"server": self.base_url}) from None
        if response.status_code >= 500:
            log.warning("ComfyUI %s %s answered %s: %s", method, path, response.status_code, response.text[:4000])
            raise UpstreamError(f"ComfyUI at {self.base_url} failed (HTTP {response.status_code}): "
                                f"{sanitise(response.text[:500])}", code="comfyui_error",
                                details={"server": self.base_url, "upstream_status": response.status_code})
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise UpstreamError(f"ComfyUI at {self.base_url} refused {path} (HTTP {response.status_code}): "
                                f"{sanitise(response.text[:300])}", code="comfyui_error",
                                details={"server": self.base_url, "upstream_status": response.status_code})
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"ComfyUI at {self.base_url} answered {path} with something that is not JSON",
                                code="comfyui_error", details={"server": self.base_url}) from None

    def system_stats(self) -> dict[str, Any]:
        return self._json("GET", "/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        return self._json("GET", f"/object_info/{node_class}" if node_class else "/object_info")

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The finished prompt's history entry; ``None`` while it is queued or running."""
        entry = self._json("GET", f"/history/{prompt_id}").get(prompt_id)
        return entry if isinstance(entry, dict) else None

    def queued(self, prompt_id: str) -> bool:
        queue = self._json("GET", "/queue")
        items = [*(queue.get("queue_running") or []), *(queue.get("queue_pending") or [])]
        return any(isinstance(item, list) and len(item) > 1 and item[1] == prompt_id for item in items)

    def view(self, output: Output) -> bytes:
        response = self._request("GET", "/view", params={"filename": output.filename, "subfolder": output.subfolder,
                                                         "type": output.type})
        if response.status_code >= 400:
            raise UpstreamError(f"ComfyUI at {self.base_url} has no output file {output.filename!r} "
                                f"(HTTP {response.status_code})", code="comfyui_error",
                                details={"server": self.base_url, "filename": output.filename})
        return response.content

    def upload_image(self, data: bytes, name: str, *, subfolder: str = "", kind: str = "input",
                     overwrite: bool = False) -> dict[str, Any]:
        """Upload an init image or pose; returns ``{name, subfolder, type}`` (the name may change)."""
        files = {"image": (name, data, "application/octet-stream")}
        fields = {"type": kind, "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        return self._json("POST", "/upload/image", files=files, data=fields)

    def interrupt(self, prompt_id: str) -> None:
        """Stop ``prompt_id``: removed from the queue if waiting, interrupted if running."""
        self._request("POST", "/queue", json={"delete": [prompt_id]})
        self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    def _quietly_interrupt(self, prompt_id: str) -> None:
        try:
            self.interrupt(prompt_id)
        except UpstreamError:
            log.warning("could not interrupt prompt %s on %s", prompt_id, self.base_url)

    # -- a render -------------------------------------------------------------------------------
    def submit(self, graph: dict[str, Any], *, prompt_id: str | None = None,
               extra_data: dict[str, Any] | None = None) -> tuple[str, list[str]]:
        """Queue ``graph`` (API format); returns ``(prompt_id, warnings)``. A POST that fails on the
        way is retried once with the same prompt id unless the server already has it."""
        prompt_id = prompt_id or str(uuid.uuid4())
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id, "extra_data": extra_data or {}}
        try:
            response = self._request("POST", "/prompt", json=body)
        except UpstreamError:
            if self._known(prompt_id):
                return prompt_id, []
            response = self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            raise _rejected(response, self.base_url)
        if response.status_code >= 400:
            raise UpstreamError(f"ComfyUI at {self.base_url} refused the graph (HTTP {response.status_code}): "
                                f"{sanitise(response.text[:300])}", code="comfyui_error",
                                details={"server": self.base_url})
        answer = response.json()
        warnings = [f"node {node}: {_node_problem(info)}" for node, info in (answer.get("node_errors") or {}).items()]
        return str(answer.get("prompt_id") or prompt_id), warnings

    def _known(self, prompt_id: str) -> bool:
        try:
            return self.history(prompt_id) is not None or self.queued(prompt_id)
        except UpstreamError:
            return False

    def run(self, graph: dict[str, Any], *, prompt_id: str | None = None, progress: Progress | None = None,
            cancelled: Callable[[], bool] = lambda: False, timeout: float = 3600.0, download: bool = True,
            poll_seconds: float | None = None) -> Result:
        """Submit ``graph`` and wait for it: the outputs (downloaded unless ``download`` is false).
        ``poll_seconds`` (hardened mode): ask ``/history`` this often even while the socket talks."""
        started = time.monotonic()
        self._ensure_watcher()
        prompt_id = prompt_id or str(uuid.uuid4())
        state = _Prompt(prompt_id, nodes=max(len(graph), 1))
        with self._lock:
            self._prompts[prompt_id] = state
        try:
            prompt_id, warnings = self.submit(graph, prompt_id=prompt_id)
            entry = self._wait(state, progress, cancelled, started + timeout, poll_seconds)
        finally:
            with self._lock:
                self._prompts.pop(prompt_id, None)
        outputs = _outputs(entry)
        bytes_rx = 0
        if download:
            for output in outputs:
                output.data = self.view(output)
                bytes_rx += len(output.data)
        return Result(prompt_id, outputs, state.cached, warnings, round(time.monotonic() - started, 4),
                      len(json.dumps(graph)), bytes_rx)

    def _wait(self, state: _Prompt, progress: Progress | None, cancelled: Callable[[], bool],
              deadline: float, poll_seconds: float | None = None) -> dict[str, Any]:
        """Until the prompt ended: woken by the socket; polling ``/history`` only while the socket is
        down or silent for ``stall_seconds``."""
        unreachable_since: float | None = None
        last_poll = time.monotonic()
        reported = 0.0
        while True:
            state.changed.wait(0.25)
            state.changed.clear()
            try:
                if progress:  # a job's progress callback raises when the job was cancelled
                    reported = max(reported, _fraction(state))  # never backwards between node messages
                    progress(reported, f"ComfyUI: {len(state.finished_nodes)} of {state.nodes} nodes done")
                if cancelled():
                    raise Conflict("the render was cancelled", code="cancelled")
            except BaseException:
                self._quietly_interrupt(state.prompt_id)
                raise
            if time.monotonic() > deadline:
                self._quietly_interrupt(state.prompt_id)
                raise UpstreamError(f"ComfyUI at {self.base_url} did not finish the render in time",
                                    code="comfyui_timeout", details={"server": self.base_url})
            if state.done.is_set():
                return self._finished(state, self._final_history(state))
            due = poll_seconds is not None and time.monotonic() - last_poll >= poll_seconds
            if self.connected.is_set() and time.monotonic() - state.last_seen < self.stall_seconds and not due:
                continue
            last_poll = time.monotonic()
            try:  # the socket is down or silent: ask history
                entry = self.history(state.prompt_id)
                if entry is None and not self.queued(state.prompt_id) and self.history(state.prompt_id) is None:
                    raise UpstreamError(f"ComfyUI at {self.base_url} lost the render (was it restarted?)",
                                        code="comfyui_lost", details={"server": self.base_url})
            except UpstreamError as exc:
                if exc.code == "comfyui_lost":
                    raise
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > self.lost_seconds:
                    raise UpstreamError(f"ComfyUI at {self.base_url} went away during the render",
                                        code="comfyui_unreachable", details={"server": self.base_url}) from None
                continue
            unreachable_since = None
            if entry is not None:
                return self._finished(state, entry)

    def _final_history(self, state: _Prompt) -> dict[str, Any]:
        """The history entry of a prompt the socket said has ended (it can lag the message by a
        moment); the socket's own report when history never shows it."""
        delay = 0.002
        for _ in range(12):
            entry = self.history(state.prompt_id)
            if entry is not None:
                return entry
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        return {"outputs": state.outputs, "status": {}}

    def _finished(self, state: _Prompt, entry: dict[str, Any]) -> dict[str, Any]:
        status = entry.get("status") or {}
        outcome = state.outcome or {"success": "success", "error": "error"}.get(status.get("status_str"))
        for event, data in status.get("messages") or []:
            if event == "execution_error":
                outcome, state.error = "error", state.error or data
            elif event == "execution_interrupted":
                outcome = "interrupted"
        if outcome == "interrupted":
            raise Conflict("the render was interrupted on the ComfyUI server", code="comfyui_interrupted",
                           details={"server": self.base_url, "prompt_id": state.prompt_id})
        if outcome == "error":
            error = state.error or {}
            log.error("ComfyUI render %s failed on %s: %s", state.prompt_id, self.base_url, json.dumps(error)[:8000])
            raise UpstreamError(f"ComfyUI node {error.get('node_id', '?')} ({error.get('node_type', '?')}) failed: "
                                f"{error.get('exception_type', 'error')}: {sanitise(error.get('exception_message'))}",
                                code="comfyui_execution_error",
                                details={"server": self.base_url, "prompt_id": state.prompt_id,
                                         "node_id": error.get("node_id"), "node_type": error.get("node_type")})
        return entry


def _fraction(state: _Prompt) -> float:
    done = len(state.finished_nodes | set(state.cached))
    within = state.step[0] / state.step[1] if state.step and state.step[1] else 0.0
    return min(0.99, (done + within) / state.nodes)


def _outputs(entry: dict[str, Any]) -> list[Output]:
    """Every file the output nodes report: ``images`` (SaveImage), ``gifs`` (video nodes), ``audio``
    and any other list of ``{filename, subfolder, type}``."""
    found = []
    for node, produced in sorted((entry.get("outputs") or {}).items()):
        for key, items in sorted((produced or {}).items()):
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("filename"), str) and item["filename"]:
                    found.append(Output(str(node), item["filename"], str(item.get("subfolder") or ""),
                                        str(item.get("type") or "output")))
    return found


def _node_problem(info: Any) -> str:
    errors = info.get("errors") if isinstance(info, dict) else None
    if not errors:
        return "invalid"
    first = errors[0]
    detail = f" ({sanitise(first.get('details'))})" if first.get("details") else ""
    return f"{first.get('type', 'error')}: {sanitise(first.get('message'))}{detail}"


def _rejected(response: httpx.Response, base_url: str) -> InvalidInput:
    """ComfyUI's 400: the graph is wrong. 422 naming each bad node and input."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") or {}
    nodes = body.get("node_errors") or {}
    problems = [f"node {node} ({info.get('class_type', '?')}): {_node_problem(info)}" for node, info in nodes.items()
                if isinstance(info, dict)]
    message = f"ComfyUI rejected the graph: {sanitise(error.get('message') or error.get('type') or 'invalid')}"
    if problems:
        message += "; " + "; ".join(problems[:5])
    return InvalidInput(message, code="comfyui_rejected",
                        details={"server": base_url, "type": error.get("type"), "nodes": sorted(nodes)})


MAX_SERVERS = 8  # bridges kept open; the least recently used idle one is closed beyond this
_servers: OrderedDict[str, ComfyUIServer] = OrderedDict()
_servers_lock = threading.Lock()


def server(base_url: str) -> ComfyUIServer:
    """The shared bridge of ``base_url``: one socket per server per process, kept for the next
    render. At most ``MAX_SERVERS`` are kept (a caller naming many different URLs cannot pile up
    sockets and threads); the least recently used one without a render in flight is closed."""
    key = base_url.rstrip("/")
    with _servers_lock:
        found = _servers.get(key)
        if found is None:
            found = _servers[key] = ComfyUIServer(key)
        _servers.move_to_end(key)
        idle = [k for k, s in _servers.items() if k != key and not s.busy()]
        for old in idle[:max(0, len(_servers) - MAX_SERVERS)]:
            _servers.pop(old).close()
        return found


def close_all() -> None:
    with _servers_lock:
        for found in _servers.values():
            found.close()
        _servers.clear()
