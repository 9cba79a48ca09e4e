"""The modder hook bus over WebSocket, through a real uvicorn: greeting, subscriptions, envelopes,
errors, ping/pong, heartbeats, slow-consumer drops and the graceful-shutdown goodbye."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from comfyvn.config.baseurl_authority import find_open_port
from comfyvn.config.settings import SettingsManager
from comfyvn.server import ws as ws_module
from tests.support.servers import LiveServer, ProcessServer, ThreadServer

WS_PATH = "/api/modder/hooks/ws"
CORE_EVENTS = {"flags.changed", "settings.changed", "on_job_submitted", "on_job_started", "on_job_progress",
               "on_job_finished", "on_modder_test"}
TIMEOUT = 10.0


# -- helpers -------------------------------------------------------------------------------------
def open_ws(server: LiveServer, query: str = "", **kwargs: Any) -> ClientConnection:
    options = dict(open_timeout=TIMEOUT, ping_interval=None, close_timeout=5, compression=None, proxy=None)
    options.update(kwargs)
    return connect(server.ws_base + WS_PATH + query, **options)


def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool],
               timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read until a message matches; return it and the messages skipped (never heartbeats)."""
    deadline = time.monotonic() + timeout
    skipped = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching message; got {skipped}")
        message = recv(ws, remaining)
        if predicate(message):
            return message, skipped
        if message.get("type") != "heartbeat":
            skipped.append(message)


def next_message(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    return recv_until(ws, lambda m: m.get("type") != "heartbeat", timeout)[0]


def hello(ws: ClientConnection) -> dict[str, Any]:
    message = next_message(ws)
    assert message["type"] == "hello", message
    return message


def send(ws: ClientConnection, message: Any) -> None:
    ws.send(message if isinstance(message, str) else json.dumps(message))


def subscribe(ws: ClientConnection, *topics: str, kind: str = "subscribe") -> dict[str, Any]:
    send(ws, {"type": kind, "topics": list(topics)})
    reply = next_message(ws)
    assert reply["type"] == "subscribed", reply
    return reply


def post_test(server: LiveServer, message: str = "hi", data: Any = None) -> dict[str, Any]:
    response = httpx.post(server.base_url + "/api/modder/hooks/test",
                          json={"payload": {"message": message, "data": data}}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()["envelope"]


def toggle_flag(server: LiveServer, enabled: bool) -> None:
    response = httpx.post(server.base_url + "/api/flags/enable_modder_webhooks", json={"enabled": enabled},
                          timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def is_event(name: str, message: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(m: dict[str, Any]) -> bool:
        return (m.get("type") == "event" and m.get("event") == name
                and (message is None or m["payload"].get("message") == message))
    return check


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def serve_with_settings(runtime_root) -> Iterator[Callable[..., tuple[Any, ThreadServer]]]:
    """Start an app built after saving ``modder`` settings (read at app creation)."""
    servers: list[ThreadServer] = []

    def start(**modder: Any) -> tuple[Any, ThreadServer]:
        from comfyvn.server.app import create_app

        SettingsManager().save({"modder": modder})
        app = create_app(configure_logging=False)
        server = ThreadServer(app).start()
        servers.append(server)
        return app, server

    yield start
    for server in servers:
        server.stop()


# -- greeting and subscriptions ------------------------------------------------------------------
def test_hello_lists_events_and_heartbeat_interval(live_server):
    with open_ws(live_server) as ws:
        message = hello(ws)
    assert message["topics"] == []
    assert CORE_EVENTS <= set(message["events"])
    assert message["events"] == sorted(message["events"])
    assert message["heartbeat_interval"] == 20.0
    assert isinstance(message["timestamp"], float)


def test_events_arrive_as_envelopes_after_subscribing(live_server):
    with open_ws(live_server) as ws:
        hello(ws)
        reply = subscribe(ws, "modder.on_modder_test")
        assert reply["topics"] == ["modder.on_modder_test"]
        envelope = post_test(live_server, "over the wire", {"n": [1, 2], "ok": True})
        message = next_message(ws)
    assert message == {"type": "event", "topic": "modder.on_modder_test", **envelope}
    assert set(message) == {"type", "topic", "event", "payload", "timestamp"}
    assert message["payload"] == {"message": "over the wire", "data": {"n": [1, 2], "ok": True}}
    assert isinstance(message["timestamp"], float)


def test_topics_query_subscribes_at_connect(live_server):
    with open_ws(live_server, "?topics=modder.on_modder_test,flags.*") as ws:
        assert hello(ws)["topics"] == ["modder.flags.*", "modder.on_modder_test"]
        toggle_flag(live_server, True)
        first = next_message(ws)
        post_test(live_server, "second")
        second = next_message(ws)
    assert first["topic"] == "modder.flags.changed"
    assert first["payload"] == {"name": "enable_modder_webhooks", "enabled": True, "previous": False}
    assert is_event("on_modder_test", "second")(second)


def test_wildcard_topics(live_server):
    with open_ws(live_server) as everything, open_ws(live_server) as jobs_only:
        hello(everything)
        hello(jobs_only)
        assert subscribe(everything, "modder.*")["topics"] == ["modder.*"]
        assert subscribe(jobs_only, "on_job_*")["topics"] == ["modder.on_job_*"]  # prefix is optional
        toggle_flag(live_server, True)
        post_test(live_server, "one")
        httpx.post(live_server.base_url + "/api/modder/hooks/test", timeout=TIMEOUT,
                   json={"event": "on_job_started", "payload": {"job_id": "j1", "kind": "k"}})
        received = [next_message(everything) for _ in range(3)]
        job_message = next_message(jobs_only)
    assert [m["event"] for m in received] == ["flags.changed", "on_modder_test", "on_job_started"]
    assert [m["topic"] for m in received] == ["modder.flags.changed", "modder.on_modder_test",
                                              "modder.on_job_started"]
    # the jobs-only client got nothing before the job event
    assert job_message["event"] == "on_job_started"
    assert job_message["payload"] == {"job_id": "j1", "kind": "k"}


def test_unsubscribed_topics_are_not_delivered(live_server):
    with open_ws(live_server) as ws:
        hello(ws)
        subscribe(ws, "modder.on_modder_test")
        toggle_flag(live_server, True)  # flags.changed: not subscribed
        post_test(live_server, "marker-1")
        assert is_event("on_modder_test", "marker-1")(next_message(ws))

        assert subscribe(ws, "modder.flags.changed")["topics"] == ["modder.flags.changed", "modder.on_modder_test"]
        toggle_flag(live_server, False)
        assert next_message(ws)["event"] == "flags.changed"

        reply = subscribe(ws, "modder.flags.changed", kind="unsubscribe")
        assert reply["topics"] == ["modder.on_modder_test"]
        toggle_flag(live_server, True)
        post_test(live_server, "marker-2")
        assert is_event("on_modder_test", "marker-2")(next_message(ws))

        assert subscribe(ws, "modder.on_modder_test", kind="unsubscribe")["topics"] == []
        post_test(live_server, "marker-3")
        # nothing is subscribed now: the connection answers a ping and nothing else arrives first
        send(ws, {"type": "ping"})
        assert next_message(ws)["type"] == "pong"


def test_several_clients_each_receive_every_event(live_server):
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_ws(live_server, "?topics=on_modder_test")) for _ in range(4)]
        for ws in clients:
            hello(ws)
        envelopes = [post_test(live_server, str(i)) for i in range(5)]
        for ws in clients:
            got = [next_message(ws) for _ in range(5)]
            assert [{k: m[k] for k in ("event", "payload", "timestamp")} for m in got] == envelopes


def test_disconnected_clients_are_forgotten(app, live_server):
    broadcaster = app.state.broadcasters["modder"]
    with open_ws(live_server, "?topics=modder.*") as ws:
        hello(ws)
        assert broadcaster.stats()["clients"] == 1
    wait_until(lambda: broadcaster.stats()["clients"] == 0, what="the client to be removed")
    post_test(live_server, "nobody listens")  # publishing with no clients is fine
    assert broadcaster.stats()["dropped"] == 0


# -- errors keep the connection usable -----------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "subscribe", "topics": "modder.on_modder_test"}, "invalid_input"),
        ({"type": "subscribe", "topics": [""]}, "invalid_input"),
        ({"type": "subscribe", "topics": [42]}, "invalid_input"),
        ({"type": "subscribe"}, "invalid_input"),
        ({"type": "subscribe", "topics": ["modder.on_nothing"]}, "undeclared_event"),
        ({"type": "subscribe", "topics": ["on_modder_test", "on_modder_tset"]}, "undeclared_event"),
        ({"type": "unsubscribe", "topics": ["modder.on_nothing"]}, "undeclared_event"),
        ({"type": "dance"}, "bad_message"),
        ({"topics": ["modder.*"]}, "bad_message"),
        ("not json", "bad_message"),
        ("[1, 2]", "bad_message"),
    ],
)
def test_bad_messages_get_an_error_and_the_connection_stays_usable(live_server, message, code):
    with open_ws(live_server) as ws:
        hello(ws)
        send(ws, message)
        error = next_message(ws)
        assert error["type"] == "error", error
        assert error["error"]["code"] == code
        assert error["error"]["message"]
        # nothing was subscribed by the failed request, and the connection still works
        assert subscribe(ws, "modder.flags.changed")["topics"] == ["modder.flags.changed"]
        post_test(live_server, "ignored: not subscribed")
        toggle_flag(live_server, True)
        assert next_message(ws)["event"] == "flags.changed"
        send(ws, {"type": "ping"})
        assert next_message(ws)["type"] == "pong"


def test_undeclared_topic_in_query_is_reported_after_hello(live_server):
    with open_ws(live_server, "?topics=modder.on_nothing") as ws:
        greeting = hello(ws)
        error = next_message(ws)
        assert greeting["topics"] == []
        assert error == {"type": "error", "error": {"code": "undeclared_event", "message": error["error"]["message"]}}
        assert "on_nothing" in error["error"]["message"]
        assert subscribe(ws, "on_modder_test")["topics"] == ["modder.on_modder_test"]
        post_test(live_server, "still here")
        assert is_event("on_modder_test", "still here")(next_message(ws))


def test_ping_pong(live_server):
    with open_ws(live_server) as ws:
        hello(ws)
        for _ in range(3):
            send(ws, {"type": "ping"})
            pong = next_message(ws)
            assert pong["type"] == "pong" and isinstance(pong["timestamp"], float)
        send(ws, {"type": "pong"})  # a client pong is accepted silently
        send(ws, {"type": "ping"})
        assert next_message(ws)["type"] == "pong"


# -- heartbeats ----------------------------------------------------------------------------------
def test_heartbeats_arrive_while_idle(serve_with_settings):
    _, server = serve_with_settings(ws_heartbeat_seconds=0.2)
    with open_ws(server) as ws:
        greeting = recv(ws)
        assert greeting["type"] == "hello" and greeting["heartbeat_interval"] == 0.2
        beats = [recv(ws) for _ in range(3)]
        assert [b["type"] for b in beats] == ["heartbeat"] * 3
        assert all(isinstance(b["timestamp"], float) for b in beats)
        assert beats[0]["timestamp"] < beats[1]["timestamp"] < beats[2]["timestamp"]
        # heartbeats do not get in the way of the protocol
        send(ws, {"type": "ping"})
        assert next_message(ws)["type"] == "pong"


# -- slow consumers ------------------------------------------------------------------------------
def test_slow_client_is_dropped_with_1013_while_a_reading_client_gets_everything(serve_with_settings, monkeypatch):
    # a dropped client gets its close frame once it reads again; keep the forced close (for clients
    # that never read again) out of the way of this test
    monkeypatch.setattr(ws_module, "FORCE_CLOSE_AFTER", 60.0)
    app, server = serve_with_settings(ws_queue_size=8)
    bus = app.state.services.bus
    broadcaster = app.state.broadcasters["modder"]

    # the slow client: a tiny receive buffer, and a client library that stops reading the socket
    # once one message is waiting; it never calls recv() while the events are emitted
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    with open_ws(server, "?topics=modder.on_modder_test", sock=raw, max_queue=1) as slow, \
            open_ws(server, "?topics=modder.on_modder_test", max_size=2**22) as reader:
        assert hello(slow)["topics"] == ["modder.on_modder_test"]
        assert hello(reader)["topics"] == ["modder.on_modder_test"]
        wait_until(lambda: broadcaster.stats()["clients"] == 2, what="both clients")

        blob = os.urandom(32 * 1024).hex()  # 64 KiB of incompressible text per event
        emitted = 0
        dropped_at = None
        while emitted < 3000 and (dropped_at is None or emitted < dropped_at + 20):
            envelope = bus.emit("on_modder_test", {"message": str(emitted), "data": blob})  # never blocks
            assert envelope["payload"]["message"] == str(emitted)
            message = next_message(reader)
            assert is_event("on_modder_test", str(emitted))(message), message["payload"]["message"]
            emitted += 1
            if dropped_at is None and broadcaster.dropped:
                dropped_at = emitted
        assert dropped_at is not None, "the slow client was never dropped"
        assert broadcaster.stats()["dropped"] == 1
        assert broadcaster.stats()["clients"] == 1  # the reader is still served

        # the reader is healthy and keeps receiving
        send(reader, {"type": "ping"})
        assert next_message(reader)["type"] == "pong"
        bus.emit("on_modder_test", {"message": "after", "data": None})
        assert is_event("on_modder_test", "after")(next_message(reader))

        # the slow client now reads: what had been sent, then the close with 1013 and a reason
        received: list[str] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = next_message(slow, timeout=30)
                assert message["type"] == "event"
                received.append(message["payload"]["message"])
        assert closed.value.rcvd is not None, "no close frame from the server"
        assert closed.value.rcvd.code == 1013
        assert "slow consumer" in closed.value.rcvd.reason
        # what it got is an unbroken prefix of the stream, cut before the reader's last events
        assert received == [str(i) for i in range(len(received))]
        assert len(received) < emitted


def test_burst_emitted_on_the_server_loop_overflows_a_tiny_queue(serve_with_settings):
    """A burst emitted on the server loop itself (no writer task can run in between) overflows
    a tiny queue: the client is dropped with 1013, every emit succeeds, new clients are served."""
    app, server = serve_with_settings(ws_queue_size=2)
    bus = app.state.services.bus
    broadcaster = app.state.broadcasters["modder"]
    with open_ws(server, "?topics=modder.*") as ws:
        hello(ws)
        loop = broadcaster._loop
        assert loop is not None
        # emit a burst from the server loop itself: no writer task can run in between
        done = threading.Event()

        def burst() -> None:
            for i in range(50):
                bus.emit("on_modder_test", {"message": str(i), "data": None})
            done.set()

        loop.call_soon_threadsafe(burst)
        assert done.wait(TIMEOUT)
        wait_until(lambda: broadcaster.dropped == 1, what="the drop")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                next_message(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert len(bus.history(event="on_modder_test")) == 50
    with open_ws(server, "?topics=modder.on_modder_test") as again:
        hello(again)
        post_test(server, "new client")
        assert is_event("on_modder_test", "new client")(next_message(again))


# -- graceful shutdown ---------------------------------------------------------------------------
class GoodbyeServer(LiveServer):
    """The app served by comfyvn.server.serve._Server (the server `comfyvn serve` runs), in a thread."""

    def __init__(self, app: Any) -> None:
        from comfyvn.server.serve import _Server

        port = find_open_port("127.0.0.1", 0)
        super().__init__(f"http://127.0.0.1:{port}", port)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                ws_ping_interval=None, timeout_graceful_shutdown=3)
        self.server = _Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def start(self) -> GoodbyeServer:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), timeout=20, what="uvicorn")
        assert self.server.started
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def read_goodbye(ws: ClientConnection) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    messages = []
    try:
        while True:
            messages.append(next_message(ws, timeout=15))
    except ConnectionClosed as exc:
        return messages, exc


def test_graceful_shutdown_says_goodbye_with_1001(app):
    server = GoodbyeServer(app).start()
    try:
        with open_ws(server, "?topics=modder.*") as subscribed, open_ws(server) as idle:
            hello(subscribed)
            hello(idle)
            post_test(server, "before shutdown")
            assert is_event("on_modder_test", "before shutdown")(next_message(subscribed))
            server.stop()
            assert not server.thread.is_alive()
            goodbyes = [read_goodbye(ws) for ws in (subscribed, idle)]
    finally:
        server.stop()
    for messages, closed in goodbyes:
        assert [m["type"] for m in messages] == ["shutdown"], messages
        assert messages[0]["reason"] == "server shutting down"
        assert closed.rcvd is not None, "no close frame from the server"
        assert closed.rcvd.code == 1001
        assert closed.rcvd.reason == "server shutting down"


@pytest.mark.slow
def test_sigterm_to_comfyvn_serve_says_goodbye_with_1001(server_env):
    server = ProcessServer(server_env).start()
    try:
        with open_ws(server, "?topics=modder.on_modder_test") as ws:
            hello(ws)
            post_test(server, "from a subprocess")
            assert is_event("on_modder_test", "from a subprocess")(next_message(ws))
            returncode = server.stop(signal.SIGTERM)
            messages, closed = read_goodbye(ws)
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop(signal.SIGKILL)
    assert returncode == 0, server.output
    assert [m["type"] for m in messages] == ["shutdown"]
    assert closed.rcvd is not None and closed.rcvd.code == 1001
