"""The /jobs/ws stream through a real uvicorn: snapshot, job and log updates, heartbeats, kill,
and the goodbye on a graceful stop."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from comfyvn.config.settings import SettingsManager
from comfyvn.server.app import create_app
from comfyvn.server.serve import _Server
from tests.support.jobs_http import collapse, submit, wait_job
from tests.support.servers import ThreadServer

FINISHED = ("succeeded", "failed", "cancelled")


class Stream:
    """A /jobs/ws client that remembers everything it received."""

    def __init__(self, url: str) -> None:
        self._stack = contextlib.ExitStack()
        self.conn = self._stack.enter_context(connect(url, open_timeout=10, close_timeout=5, max_size=None))
        self.seen: list[dict[str, Any]] = []

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        message = json.loads(self.conn.recv(timeout=timeout))
        self.seen.append(message)
        return message

    def until(self, predicate, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {timeout} s; got {self.seen[-10:]}")
            try:
                message = self.next(remaining)
            except TimeoutError:
                continue
            if predicate(message):
                return message

    def updates(self, job_id: str) -> list[dict[str, Any]]:
        return [
            m for m in self.seen
            if (m["type"] == "job" and m["job"]["id"] == job_id) or (m["type"] == "log" and m["job_id"] == job_id)
        ]

    def close(self) -> None:
        self._stack.close()


def job_update(job_id: str, *states: str):
    def check(message: dict[str, Any]) -> bool:
        return message["type"] == "job" and message["job"]["id"] == job_id and (
            not states or message["job"]["state"] in states)

    return check


@pytest.fixture
def serve(dev_plugins, runtime_root):
    """Start the app (with the test job kinds) on a real uvicorn; optional heartbeat interval."""
    servers: list[ThreadServer] = []

    def start(*, heartbeat: float | None = None, graceful: bool = False) -> ThreadServer:
        if heartbeat is not None:
            SettingsManager().save({"modder": {"ws_heartbeat_seconds": heartbeat}})
        server = ThreadServer(create_app(configure_logging=False))
        if graceful:  # the product's server class, which says goodbye to WebSocket clients
            server.server = _Server(server.server.config)
            server.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def streams():
    opened: list[Stream] = []

    def open_stream(server: ThreadServer) -> Stream:
        stream = Stream(server.ws_base + "/jobs/ws")
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def test_snapshot_then_job_and_log_updates(serve, streams):
    server = serve()
    done = wait_job(server, submit(server, "test.echo", {"word": "before"})["id"])
    waiting = submit(server, "test.echo", {"word": "later"}, delay=120)

    stream = streams(server)
    snapshot = stream.next()
    assert snapshot["type"] == "snapshot"
    jobs = {j["id"]: j for j in snapshot["jobs"]}
    assert jobs[done["id"]]["state"] == "succeeded"
    assert jobs[done["id"]]["result"] == {"word": "before"}
    assert jobs[waiting["id"]]["state"] == "delayed"
    assert snapshot["jobs"][0]["id"] == waiting["id"]  # active jobs come first
    assert isinstance(snapshot["timestamp"], float)

    job = submit(server, "test.sleep", {"seconds": 0.3, "steps": 3})
    final = stream.until(job_update(job["id"], *FINISHED))
    assert final["job"]["state"] == "succeeded"
    assert final["job"]["result"] == {"slept": 0.3}

    updates = stream.updates(job["id"])
    states = [u["job"]["state"] for u in updates if u["type"] == "job"]
    assert collapse(states) == ["queued", "running", "succeeded"]
    assert updates[0]["job"] == job
    assert "step 1 of 3" in [u["job"]["message"] for u in updates if u["type"] == "job"]
    logs = [u for u in updates if u["type"] == "log"]
    assert [(u["seq"], u["line"]) for u in logs] == [(0, "slept")]
    assert updates.index(logs[0]) < updates.index(final)
    assert all(m["type"] in ("job", "log") for m in stream.seen[1:])


def test_every_client_gets_the_updates(serve, streams):
    server = serve()
    first, second = streams(server), streams(server)
    assert first.next()["type"] == second.next()["type"] == "snapshot"
    job = submit(server, "test.echo", {"n": 1})
    a = first.until(job_update(job["id"], *FINISHED))
    b = second.until(job_update(job["id"], *FINISHED))
    assert a == b and a["job"]["state"] == "succeeded"
    assert first.updates(job["id"]) == second.updates(job["id"])


def test_heartbeat_while_idle(serve, streams):
    server = serve(heartbeat=0.3)
    stream = streams(server)
    assert stream.next()["type"] == "snapshot"
    beat = stream.next(timeout=10)
    assert beat["type"] == "heartbeat" and isinstance(beat["timestamp"], float)
    again = stream.next(timeout=10)
    assert again["type"] == "heartbeat" and again["timestamp"] > beat["timestamp"]


def test_ping_is_answered_and_bad_messages_get_an_error(serve, streams):
    server = serve()
    stream = streams(server)
    assert stream.next()["type"] == "snapshot"
    stream.conn.send(json.dumps({"type": "ping"}))
    assert stream.next()["type"] == "pong"
    stream.conn.send("not json")
    error = stream.next()
    assert error["type"] == "error" and error["error"]["code"] == "bad_message"
    stream.conn.send(json.dumps({"type": "subscribe"}))
    assert stream.next()["error"]["code"] == "bad_message"


def test_kill_running_job_is_streamed(serve, streams):
    server = serve()
    stream = streams(server)
    assert stream.next()["type"] == "snapshot"
    job = submit(server, "test.sleep", {"seconds": 60, "steps": 600})
    stream.until(job_update(job["id"], "running"))

    response = httpx.post(f"{server.base_url}/jobs/kill/{job['id']}", timeout=10)
    assert response.status_code == 202
    flagged = stream.until(lambda m: job_update(job["id"])(m) and m["job"]["cancel_requested"])
    assert flagged["job"]["state"] == "running"
    final = stream.until(job_update(job["id"], *FINISHED))
    assert final["job"]["state"] == "cancelled"
    lines = [u["line"] for u in stream.updates(job["id"]) if u["type"] == "log"]
    assert "cancel requested: killed by request" in lines
    assert "slept" not in lines


def test_kill_process_job_is_streamed(serve, streams):
    server = serve()
    stream = streams(server)
    assert stream.next()["type"] == "snapshot"
    job = submit(server, "test.block", {"seconds": 60})
    stream.until(lambda m: m["type"] == "log" and m["job_id"] == job["id"] and m["line"].startswith("pid "),
                 timeout=30)
    assert httpx.post(f"{server.base_url}/jobs/kill/{job['id']}", timeout=10).status_code == 202
    final = stream.until(job_update(job["id"], *FINISHED))
    assert final["job"]["state"] == "cancelled"


def test_graceful_stop_says_goodbye(serve, streams):
    server = serve(graceful=True)
    stream = streams(server)
    assert stream.next()["type"] == "snapshot"
    server.stop()
    goodbye = stream.until(lambda m: m["type"] != "heartbeat", timeout=10)
    assert goodbye["type"] == "shutdown"
    with pytest.raises(ConnectionClosed) as info:
        stream.next(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001


def test_updates_published_while_the_snapshot_is_built_come_after_it(serve, streams, monkeypatch):
    """A job that is killed and finishes while a client's snapshot is being built (so the snapshot
    still shows it running) still reaches that client: snapshot first, then the updates, in order."""
    server = serve()
    jobs = server.server.config.app.state.services.jobs
    job = submit(server, "test.sleep", {"seconds": 60, "steps": 600})
    wait_job(server, job["id"], "running")

    finished = threading.Event()
    jobs.add_listener(lambda u: u["type"] == "job" and u["job"]["id"] == job["id"]
                      and u["job"]["state"] == "cancelled" and finished.set())
    real_list = jobs.list
    paused: list[str] = []

    def list_then_finish_the_job(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        result = real_list(*args, **kwargs)
        if kwargs.get("state") == "running" and not paused:
            paused.append("done")
            jobs.kill(job["id"])  # publishes from the event loop thread, mid-greeting
            assert finished.wait(10)  # the worker thread has published the final state
        return result

    monkeypatch.setattr(jobs, "list", list_then_finish_the_job)
    stream = streams(server)
    snapshot = stream.next()
    assert snapshot["type"] == "snapshot"
    assert paused
    assert {j["id"]: j["state"] for j in snapshot["jobs"]}[job["id"]] == "running"
    final = stream.until(job_update(job["id"], *FINISHED), timeout=10)
    assert final["job"]["state"] == "cancelled"
    states = [u["job"]["state"] for u in stream.updates(job["id"]) if u["type"] == "job"]
    assert states[-1] == "cancelled" and set(states[:-1]) <= {"running"}
