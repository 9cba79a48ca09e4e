"""A loopback stand-in for a real ComfyUI 0.3.64 server, for bridge tests (uvicorn in a thread).

It follows /work/shared/reference/comfyui.md: the HTTP routes (also under ``/api/``), the ``/ws`` event
sequence, a single worker executing queued prompts in ``number`` order, validation errors, node-output
caching and in-memory history. Nodes and validation live in tests/support/comfy_nodes.py.

Choices where real ComfyUI differs or is vague:
- A re-POST with a ``prompt_id`` that is queued, running or in history is accepted and echoed (200, the
  original ``number``) but not queued again. Real ComfyUI queues it again (an all-cached re-run that
  overwrites the history entry); ``requeue_duplicates=True`` restores that.
- ``execution_interrupted`` goes to every connected socket (as the reference states).
- As in ComfyUI, closing a socket removes its clientId from the socket map even if a newer socket with the
  same clientId has replaced it: close the old socket before reconnecting.
- ``SlowNode`` checks for interrupts while sleeping (like a sampler step) so interrupts are quick.
Failure switches (attributes, settable while running): ``stall_ws`` (after ``execution_start`` nothing more
is sent on any socket), ``drop_final`` (no final ``executing {node: null}``), ``fail_next`` (the next N
prompts fail at their first node with an ``execution_error``), ``drop_ws`` (once: right after
``execution_start`` the prompt's socket is closed with code 1011 while the prompt keeps running),
``post_error_next`` (the next N valid POST /prompt are queued but answered with a plain-text 500, as when a
response is lost).
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from comfyvn.config.baseurl_authority import find_open_port
from tests.support import comfy_nodes
from tests.support.comfy_nodes import NODES, Interrupted, RunContext, convert, input_specs, validate_prompt

VERSION = "0.3.64"
SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"
PREVIEW_IMAGE, PREVIEW_WITH_METADATA, JPEG = 1, 4, 1


class _BadJSON(Exception):
    pass


class _Stopped(Exception):
    """The server was killed or stopped while a prompt ran: record nothing, send nothing."""


class _Socket:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()  # None: close the socket
        self.flags: dict[str, Any] = {}


class FakeComfyUI:
    """``with FakeComfyUI(tmp_path) as comfy:`` serves on ``comfy.base_url`` until the block ends."""

    def __init__(self, root: Path | str | None = None, *, max_upload_bytes: int = 100 * 1024 * 1024,
                 disable_metadata: bool = False, enable_cors_header: bool = False,
                 requeue_duplicates: bool = False) -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="fake-comfyui-"))
        self.output_dir, self.input_dir, self.temp_dir = (self.root / n for n in ("output", "input", "temp"))
        self.max_upload_bytes = max_upload_bytes
        self.disable_metadata = disable_metadata
        self.enable_cors_header = enable_cors_header
        self.requeue_duplicates = requeue_duplicates
        self.port = 0
        self.stall_ws = False
        self.drop_final = False
        self.fail_next = 0
        self.drop_ws = False
        self.post_error_next = 0
        # records for tests (kept across restart)
        self.prompts: list[Any] = []  # parsed bodies of every POST /prompt
        self.requests: list[tuple[str, str]] = []  # (method, path) of every HTTP request and WS connect
        self.executions = 0  # prompts taken off the queue and executed
        self.node_runs: list[tuple[str, str, str]] = []  # (prompt_id, node_id, class_type) really run
        self.interrupts = 0
        self.frees: list[Any] = []
        self._cond = threading.Condition()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def _reset(self) -> None:
        self._queue: list[tuple] = []
        self._running: tuple | None = None
        self._history: dict[str, dict] = {}
        self._number = 0
        self._cache_out: dict[str, tuple] = {}
        self._cache_ui: dict[str, dict] = {}
        self._sockets: dict[str, _Socket] = {}
        self._client_id: str | None = None
        self._last_node: str | None = None
        self._interrupt = threading.Event()
        self._stopping = False
        self._muted = False
        self._temp_prefix = "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))

    # -- lifecycle -----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FakeComfyUI:
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # ComfyUI empties its temp dir at start-up
        for folder in (self.output_dir, self.input_dir, self.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._reset()
        self.port = self.port or find_open_port("127.0.0.1", 0)
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                ws_ping_interval=None, timeout_graceful_shutdown=1, lifespan="off")
        self._server = server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve()

        self._thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True, name="fake-comfyui")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake ComfyUI did not start on port {self.port}")
            time.sleep(0.01)
        self._worker = threading.Thread(target=self._work, daemon=True, name="fake-comfyui-worker")
        self._worker.start()
        return self

    def stop(self) -> None:
        """Graceful stop: the running prompt is abandoned, sockets get a close frame."""
        self._halt(abrupt=False)

    def kill(self) -> None:
        """Abrupt stop: sockets are aborted without a close frame and the port stops answering."""
        self._halt(abrupt=True)

    def restart(self) -> FakeComfyUI:
        """Stop (if running) and start again on the same port: queue, history and caches are empty,
        output files are kept."""
        self._halt(abrupt=False)
        return self.start()

    def _halt(self, *, abrupt: bool) -> None:
        if self._server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        server, loop = self._server, self._loop
        if abrupt and loop is not None and not loop.is_closed():
            def abort() -> None:
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()
            try:
                loop.call_soon_threadsafe(abort)
            except RuntimeError:
                pass
            server.force_exit = True
        server.should_exit = True
        for thread in (self._worker, self._thread):
            if thread is not None:
                thread.join(15)
        self._server = self._thread = self._worker = self._loop = None

    def __enter__(self) -> FakeComfyUI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def wait_idle(self, timeout: float = 10) -> bool:
        """Block until nothing is queued or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self._running is None, timeout)

    @property
    def history(self) -> dict[str, dict]:
        return self._history

    # -- websocket fan-out ---------------------------------------------------------------------------
    def _send(self, event: str, data: Any, sid: str | None) -> None:
        """Queue a message from any thread; ``sid=None`` means every socket."""
        if self._stopping or self._loop is None:
            return
        message = data if isinstance(data, bytes) else json.dumps({"type": event, "data": data})
        try:
            self._loop.call_soon_threadsafe(self._dispatch, event, message, sid)
        except RuntimeError:  # loop already closed
            pass

    def _dispatch(self, event: str, message: str | bytes, sid: str | None) -> None:
        if not self.stall_ws:
            self._muted = False
        if self._muted or self._stopping:
            return
        targets = list(self._sockets.values()) if sid is None else [self._sockets.get(sid)]
        for socket in targets:
            if socket is not None:
                socket.outbox.put_nowait(message)
        if self.stall_ws and event == "execution_start":
            self._muted = True
        if self.drop_ws and event == "execution_start":
            self.drop_ws = False
            for socket in targets:
                if socket is not None:
                    socket.outbox.put_nowait(None)

    def _queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": len(self._queue) + (self._running is not None)}}

    async def _ws(self, ws: WebSocket) -> None:
        self.requests.append(("WS", ws.url.path))
        sid = ws.query_params.get("clientId") or uuid.uuid4().hex
        await ws.accept()
        socket = _Socket(ws)
        self._sockets[sid] = socket
        socket.outbox.put_nowait(json.dumps({"type": "status", "data": {"status": self._queue_info(), "sid": sid}}))
        if self._client_id == sid and self._last_node is not None:
            socket.outbox.put_nowait(json.dumps({"type": "executing", "data": {"node": self._last_node}}))
        pump = asyncio.create_task(self._pump(socket))
        first = True
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is None:
                    continue
                try:
                    data = json.loads(message["text"])
                except ValueError:
                    data = None
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    socket.flags = data.get("data") or {}
                    socket.outbox.put_nowait(json.dumps({"type": "feature_flags", "data": self._features()}))
                first = False
        finally:
            pump.cancel()
            self._sockets.pop(sid, None)  # like ComfyUI: even when a newer socket took the sid

    @staticmethod
    async def _pump(socket: _Socket) -> None:
        try:
            while True:
                message = await socket.outbox.get()
                if message is None:
                    await socket.ws.close(1011)
                    return
                if isinstance(message, bytes):
                    await socket.ws.send_bytes(message)
                else:
                    await socket.ws.send_text(message)
        except Exception:  # the peer went away; the receive loop notices and cleans up
            return

    def _features(self) -> dict:
        return {"supports_preview_metadata": True, "max_upload_size": self.max_upload_bytes}

    # -- the worker ----------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                item = heapq.heappop(self._queue)
                self._running = item
                self._send("status", {"status": self._queue_info()}, None)
            try:
                entry = self._execute(item)
            except _Stopped:
                return
            with self._cond:
                self._history[item[1]] = entry
                self._running = None
                self._send("status", {"status": self._queue_info()}, None)
                self._cond.notify_all()
            client = item[3].get("client_id")
            if client is not None and not self.drop_final:
                self._send("executing", {"node": None, "prompt_id": item[1]}, client)

    def _check(self) -> None:
        if self._stopping:
            raise _Stopped()
        if self._interrupt.is_set():
            raise Interrupted("Processing interrupted")

    def _signatures(self, prompt: dict) -> dict[str, str]:
        """Cache keys: class, is_changed and inputs, recursively through links (node ids left out)."""
        sigs: dict[str, str] = {}

        def sig(node_id: str, depth: int = 0) -> str:
            if node_id not in sigs:
                node = prompt[node_id]
                cls = NODES[node["class_type"]]
                parts = [node["class_type"], cls.is_changed(self.input_dir, node["inputs"])]
                for name in sorted(node["inputs"]):
                    value = node["inputs"][name]
                    linked = isinstance(value, list) and len(value) == 2 and depth < 500
                    parts.append([name, ["link", sig(value[0], depth + 1), value[1]] if linked else value])
                sigs[node_id] = json.dumps(parts, sort_keys=True, default=str)
            return sigs[node_id]

        for node_id in prompt:
            try:
                sig(node_id)
            except Exception:  # an invalid node that is not executed
                sigs.pop(node_id, None)
        return sigs

    def _order(self, prompt: dict, outputs: list[str], sigs: dict[str, str]) -> list[str]:
        order: list[str] = []

        def visit(node_id: str, top: bool) -> None:
            if node_id in order or (not top and sigs[node_id] in self._cache_out):
                return
            for value in prompt[node_id]["inputs"].values():
                if isinstance(value, list) and len(value) == 2:
                    visit(value[0], False)
            order.append(node_id)

        for output in outputs:
            visit(output, True)
        return order

    def _execute(self, item: tuple) -> dict:
        number, prompt_id, prompt, extra, outputs = item
        self._interrupt.clear()
        self.executions += 1
        client = extra.get("client_id")
        self._client_id = client
        messages: list[list] = []
        states: dict[str, dict] = {}

        def add(event: str, data: dict, broadcast: bool = False) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            if broadcast or client is not None:
                self._send(event, data, None if broadcast else client)

        def progress(node_id: str, state: str, value: int, top: int) -> None:
            states[node_id] = {"value": value, "max": top, "state": state, "node_id": node_id,
                               "prompt_id": prompt_id, "display_node_id": node_id, "parent_node_id": None,
                               "real_node_id": node_id}
            if client is not None:
                self._send("progress_state", {"prompt_id": prompt_id, "nodes": dict(states)}, client)

        add("execution_start", {"prompt_id": prompt_id})
        sigs = self._signatures(prompt)
        keep = set(sigs.values())
        for cache in (self._cache_out, self._cache_ui):
            for key in [key for key in cache if key not in keep]:
                del cache[key]
        add("execution_cached", {"nodes": [n for n in prompt if sigs.get(n) in self._cache_out],
                                 "prompt_id": prompt_id})
        fail = self.fail_next > 0
        self.fail_next = max(0, self.fail_next - 1)
        results: dict[str, tuple] = {}
        executed: list[str] = []
        success = True
        for node_id in self._order(prompt, outputs, sigs):
            class_type = prompt[node_id]["class_type"]
            key = sigs[node_id]
            if key in self._cache_out:
                if client is not None and key in self._cache_ui:
                    self._send("executed", {"node": node_id, "display_node": node_id, "output": self._cache_ui[key],
                                            "prompt_id": prompt_id}, client)
                progress(node_id, "finished", 1, 1)
                executed.append(node_id)
                continue
            inputs: dict[str, Any] = {}
            try:
                progress(node_id, "running", 0, 1)
                if client is not None:
                    self._last_node = node_id
                    self._send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                               client)
                inputs = self._inputs(prompt[node_id], results, sigs)
                self._check()
                if fail:
                    raise RuntimeError(f"injected failure (fail_next): could not open {self.root.resolve()}"
                                       "/models/checkpoints/missing.safetensors")
                self.node_runs.append((prompt_id, node_id, class_type))
                out = NODES[class_type]().run(self._context(prompt, extra, prompt_id, node_id, client, states,
                                                            progress), **inputs)
            except _Stopped:
                raise
            except Interrupted:
                add("execution_interrupted", {"prompt_id": prompt_id, "node_id": node_id, "node_type": class_type,
                                              "executed": list(executed)}, broadcast=True)
                success = False
                break
            except Exception as ex:
                if self._stopping:
                    raise _Stopped() from ex
                add("execution_error", {
                    "prompt_id": prompt_id, "node_id": node_id, "node_type": class_type, "executed": list(executed),
                    "exception_message": f"{ex}\n", "exception_type": comfy_nodes._type_name(ex),
                    "traceback": traceback.format_tb(ex.__traceback__),
                    "current_inputs": {k: [_formatted(v)] for k, v in inputs.items()},
                    "current_outputs": [n for n in prompt if sigs.get(n) in self._cache_out]})
                success = False
                break
            ui, result = (out.get("ui"), tuple(out.get("result", ()))) if isinstance(out, dict) else (None, out)
            results[node_id] = self._cache_out[key] = result
            if ui:
                self._cache_ui[key] = ui
                if client is not None:
                    self._send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                            "prompt_id": prompt_id}, client)
            progress(node_id, "finished", 1, 1)
            executed.append(node_id)
        if success:
            add("execution_success", {"prompt_id": prompt_id})
        self._last_node = None
        shown = [n for n in prompt if sigs.get(n) in self._cache_ui]
        return {"prompt": [number, prompt_id, prompt, extra, outputs],
                "outputs": {n: self._cache_ui[sigs[n]] for n in shown},
                "status": {"status_str": "success" if success else "error", "completed": success,
                           "messages": messages},
                "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in shown}}

    def _inputs(self, node: dict, results: dict[str, tuple], sigs: dict[str, str]) -> dict[str, Any]:
        args = {}
        for name, (kind, _, _) in input_specs(NODES[node["class_type"]], self.input_dir).items():
            if name in node["inputs"]:
                value = node["inputs"][name]
                if isinstance(value, list):
                    source = results.get(value[0]) or self._cache_out[sigs[value[0]]]
                    args[name] = source[value[1]]
                else:
                    args[name] = convert(kind, value)
        return args

    def _context(self, prompt: dict, extra: dict, prompt_id: str, node_id: str, client: str | None,
                 states: dict, progress: Any) -> RunContext:
        def hook(value: int, top: int, preview: bytes | None) -> None:
            self._check()
            progress(node_id, "running", value, top)
            if client is None:
                return
            socket = self._sockets.get(client)
            modern = socket is not None and socket.flags.get("supports_preview_metadata")
            if preview is not None and modern:
                meta = json.dumps({"node_id": node_id, "prompt_id": prompt_id, "display_node_id": node_id,
                                   "parent_node_id": None, "real_node_id": node_id,
                                   "image_type": "image/jpeg"}).encode()
                self._send("", struct.pack(">II", PREVIEW_WITH_METADATA, len(meta)) + meta + preview, client)
            self._send("progress", {"value": value, "max": top, "prompt_id": prompt_id, "node": node_id}, client)
            if preview is not None and not modern:
                self._send("", struct.pack(">II", PREVIEW_IMAGE, JPEG) + preview, client)

        return RunContext(self.input_dir, self.output_dir, self.temp_dir, prompt, extra.get("extra_pnginfo"),
                          self.disable_metadata, self._temp_prefix, self._check, hook)

    # -- HTTP ------------------------------------------------------------------------------------------
    def _app(self) -> Any:
        table = [("/ws", None, self._ws), ("/prompt", ["GET"], self._queue_status), ("/prompt", ["POST"], self._prompt),
                 ("/queue", ["GET"], self._get_queue), ("/queue", ["POST"], self._post_queue),
                 ("/interrupt", ["POST"], self._interrupt_route), ("/free", ["POST"], self._free),
                 ("/history", ["GET"], self._get_history), ("/history", ["POST"], self._post_history),
                 ("/history/{prompt_id}", ["GET"], self._get_history), ("/view", ["GET"], self._view),
                 ("/upload/image", ["POST"], self._upload), ("/object_info", ["GET"], self._object_info),
                 ("/object_info/{node_class}", ["GET"], self._object_info),
                 ("/system_stats", ["GET"], self._system_stats), ("/features", ["GET"], self._features_route)]
        routes = [WebSocketRoute(prefix + path, handler) if methods is None else
                  Route(prefix + path, handler, methods=methods)
                  for prefix in ("", "/api") for path, methods, handler in table]

        async def bad_json(request: Request, exc: Exception) -> Response:
            return PlainTextResponse(SERVER_ERROR, 500)

        return _OriginCheck(Starlette(routes=routes, exception_handlers={_BadJSON: bad_json}), self)

    async def _json(self, request: Request, empty: Any = _BadJSON) -> Any:
        body = await request.body()
        if not body.strip() and empty is not _BadJSON:
            return empty
        try:
            return json.loads(body)
        except ValueError as ex:
            raise _BadJSON() from ex

    async def _queue_status(self, request: Request) -> Response:
        return JSONResponse(self._queue_info())

    async def _prompt(self, request: Request) -> Response:
        body = await self._json(request)
        self.prompts.append(body)
        if not isinstance(body, dict):
            raise _BadJSON()
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                     "extra_info": {}}
            return JSONResponse({"error": error, "node_errors": {}}, 400)
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        ok, error, outputs, node_errors = validate_prompt(body["prompt"], self.input_dir)
        if not ok:
            return JSONResponse({"error": error, "node_errors": node_errors}, 400)
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        with self._cond:
            known = [item for item in [*self._queue, self._running] if item and item[1] == prompt_id]
            if known and not self.requeue_duplicates:
                return JSONResponse({"prompt_id": prompt_id, "number": known[0][0], "node_errors": node_errors})
            if prompt_id in self._history and not self.requeue_duplicates:
                number = self._history[prompt_id]["prompt"][0]
                return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})
            if "number" in body:
                number = float(body["number"])
            else:
                number = -self._number if body.get("front") else self._number
                self._number += 1
            heapq.heappush(self._queue, (number, prompt_id, body["prompt"], extra, outputs))
            self._send("status", {"status": self._queue_info()}, None)
            self._cond.notify_all()
        if self.post_error_next > 0:
            self.post_error_next -= 1
            return PlainTextResponse(SERVER_ERROR, 500)
        return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def _get_queue(self, request: Request) -> Response:
        with self._cond:
            running = [list(self._running)] if self._running else []
            return JSONResponse({"queue_running": running, "queue_pending": [list(i) for i in sorted(self._queue)]})

    async def _post_queue(self, request: Request) -> Response:
        body = await self._json(request)
        with self._cond:
            if body.get("clear"):
                self._queue.clear()
            doomed = set(body.get("delete", []))
            self._queue = [item for item in self._queue if item[1] not in doomed]
            heapq.heapify(self._queue)
            self._send("status", {"status": self._queue_info()}, None)
            self._cond.notify_all()
        return Response(status_code=200)

    async def _interrupt_route(self, request: Request) -> Response:
        body = await self._json(request, empty={})
        self.interrupts += 1
        target = body.get("prompt_id") if isinstance(body, dict) else None
        running = self._running
        if target is None or (running is not None and running[1] == target):
            self._interrupt.set()
        return Response(status_code=200)

    async def _free(self, request: Request) -> Response:
        self.frees.append(await self._json(request))
        return Response(status_code=200)

    async def _get_history(self, request: Request) -> Response:
        prompt_id = request.path_params.get("prompt_id")
        if prompt_id is not None:
            entry = self._history.get(prompt_id)
            return JSONResponse({prompt_id: entry} if entry is not None else {})
        items = list(self._history.items())
        max_items = request.query_params.get("max_items")
        offset = int(request.query_params.get("offset", -1))
        if max_items is not None:
            offset = len(items) - int(max_items) if offset < 0 else offset
            items = items[max(offset, 0):max(offset, 0) + int(max_items)]
        return JSONResponse(dict(items))

    async def _post_history(self, request: Request) -> Response:
        body = await self._json(request)
        if body.get("clear"):
            self._history.clear()
        for prompt_id in body.get("delete", []):
            self._history.pop(prompt_id, None)
        return Response(status_code=200)

    def _dir(self, kind: str | None) -> Path | None:
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}.get(kind or "")

    async def _view(self, request: Request) -> Response:
        query = request.query_params
        filename = query.get("filename")
        if filename is None:
            return Response(status_code=404)
        base = None
        for kind in ("output", "input", "temp"):
            if filename.endswith(f" [{kind}]"):
                filename, base = filename[:-len(kind) - 3], self._dir(kind)
        if not filename:
            return Response(status_code=400)
        if filename[0] == "/" or ".." in filename:
            return Response(status_code=400)
        base = base or self._dir(query.get("type", "output"))
        if base is None:
            return Response(status_code=400)
        base = Path(os.path.abspath(base))
        folder = base
        if "subfolder" in query:
            folder = Path(os.path.abspath(base / query["subfolder"]))
            if os.path.commonpath((str(folder), str(base))) != str(base):
                return Response(status_code=403)
        name = os.path.basename(filename)
        path = folder / name
        if not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, headers={"Content-Disposition": f'filename="{name}"'})

    async def _upload(self, request: Request) -> Response:
        length = int(request.headers.get("content-length") or 0)
        if length > self.max_upload_bytes:
            return PlainTextResponse(f"Maximum request body size {self.max_upload_bytes} exceeded, "
                                     f"actual body size {length}", 413)
        async with request.form() as form:
            image = form.get("image")
            if not isinstance(image, UploadFile) or not image.filename:
                return Response(status_code=400)
            kind = form.get("type") or "input"
            kind = kind if kind in ("output", "temp") else "input"
            base = Path(os.path.abspath(self._dir(kind)))
            subfolder = str(form.get("subfolder") or "")
            folder = Path(os.path.abspath(base / os.path.normpath(subfolder)))
            name = image.filename
            path = Path(os.path.abspath(folder / name))
            if os.path.commonpath((str(base), str(path))) != str(base):
                return Response(status_code=400)
            data = await image.read()
            overwrite = form.get("overwrite") in ("true", "1")
        folder.mkdir(parents=True, exist_ok=True)
        stem, ext = os.path.splitext(name)
        counter, duplicate = 1, False
        while not overwrite and path.exists():
            if path.read_bytes() == data:
                duplicate = True
                break
            name = f"{stem} ({counter}){ext}"
            path, counter = folder / name, counter + 1
        if not duplicate:
            path.write_bytes(data)
        return JSONResponse({"name": name, "subfolder": subfolder, "type": kind})

    async def _object_info(self, request: Request) -> Response:
        wanted = request.path_params.get("node_class")
        names = [wanted] if wanted is not None else list(NODES)
        return JSONResponse({n: comfy_nodes.object_info(n, self.input_dir) for n in names if n in NODES})

    async def _system_stats(self, request: Request) -> Response:
        ram = 16 * 1024 ** 3
        return JSONResponse({
            "system": {"os": os.name, "ram_total": ram, "ram_free": ram // 2, "comfyui_version": VERSION,
                       "required_frontend_version": "1.27.10", "installed_templates_version": "0.1.94",
                       "required_templates_version": "0.1.94", "python_version": sys.version,
                       "pytorch_version": "2.8.0+cpu", "embedded_python": False,
                       "argv": ["main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port)]},
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": ram, "vram_free": ram // 2,
                         "torch_vram_total": ram, "torch_vram_free": ram // 2}]})

    async def _features_route(self, request: Request) -> Response:
        return JSONResponse(self._features())


def _formatted(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, bool, str)) else str(value)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _OriginCheck:
    """ComfyUI's origin-only middleware: a loopback Host whose Origin names another host gets 403."""

    def __init__(self, app: Any, owner: FakeComfyUI) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.owner.requests.append((scope["method"], scope["path"]))
        if scope["type"] in ("http", "websocket") and not self.owner.enable_cors_header:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if _mismatch(headers.get("host"), headers.get("origin")):
                if scope["type"] == "http":
                    await Response(status_code=403)(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)


def _mismatch(host: str | None, origin: str | None) -> bool:
    if not host or not origin:
        return False
    host_domain, parsed = host.lower(), urlparse(origin)
    origin_domain = parsed.netloc.lower()
    host_parsed = urlsplit("//" + host_domain)
    try:
        if not _is_loopback(host_parsed.hostname):
            return False
        if parsed.port is None:
            host_domain = host_parsed.hostname or ""
        if host_parsed.port is None:
            origin_domain = parsed.hostname or ""
    except ValueError:
        return False
    return bool(host_domain) and bool(origin_domain) and host_domain != origin_domain
