"""End to end with real ``python -m comfyvn serve`` processes: a crash mid-job and a restart on the
same runtime root, and a graceful SIGTERM with a /jobs/ws client connected."""

from __future__ import annotations

import contextlib
import json
import signal
import time

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from comfyvn.core.jobs import INTERRUPTED_REASON
from tests.conftest import DEV_PLUGINS
from tests.support.jobs_http import get_job, submit, wait_job
from tests.support.servers import ProcessServer

pytestmark = pytest.mark.slow

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def env(server_env, runtime_root) -> dict[str, str]:
    return {
        **server_env,
        "COMFYVN_RUNTIME_ROOT": str(runtime_root),
        "COMFYVN_DEV_MODE": "1",
        "COMFYVN_DEV_PLUGINS_DIR": str(DEV_PLUGINS),
    }


@pytest.fixture
def servers():
    started: list[ProcessServer] = []

    def start(env: dict[str, str]) -> ProcessServer:
        server = ProcessServer(env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture
def reap():
    """Kill leftover processes (children orphaned by a crashed server) at the end of the test."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        _kill(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc = psutil.Process(pid)
        if "python" in " ".join(proc.cmdline()).lower():
            proc.kill()
            proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_crash_mid_job_then_restart_marks_it_interrupted(env, servers, reap):
    first = servers(env)
    echo = wait_job(first, submit(first, "test.echo", {"word": "kept"})["id"])
    assert echo["state"] == "succeeded"
    failed = wait_job(first, submit(first, "test.fail", {"message": "old failure"})["id"])
    assert failed["state"] == "failed"

    block = submit(first, "test.block", {"seconds": 120})
    deadline = time.monotonic() + 30
    while True:
        lines = httpx.get(f"{first.base_url}/jobs/logs/{block['id']}", timeout=10).json()["lines"]
        if lines:
            break
        assert time.monotonic() < deadline, "the job never started its child process"
        time.sleep(0.05)
    child_pid = int(lines[0]["line"].split()[1])
    reap.append(child_pid)
    running = get_job(first, block["id"])
    assert running["state"] == "running"
    assert running["worker_pid"] == first.process.pid

    # crash: no shutdown code runs in the server
    first.process.kill()
    first.process.wait(20)
    # the job's child process does not outlive the server it worked for
    deadline = time.monotonic() + 15
    while _alive(child_pid):
        assert time.monotonic() < deadline, "the job's child process kept running after the server died"
        time.sleep(0.1)
    assert first.stop() == -signal.SIGKILL

    second = servers(env)
    assert second.process.pid != first.process.pid
    job = get_job(second, block["id"])
    assert job["state"] == "failed"
    assert job["error"] == INTERRUPTED_REASON
    assert job["finished_at"] is not None
    assert [x["line"] for x in httpx.get(f"{second.base_url}/jobs/logs/{block['id']}").json()["lines"]] == [
        lines[0]["line"]
    ]

    assert get_job(second, echo["id"]) == echo
    poll = httpx.get(f"{second.base_url}/jobs/poll", params={"state": "succeeded"}, timeout=10).json()
    assert [j["id"] for j in poll["jobs"]] == [echo["id"]]
    everything = httpx.get(f"{second.base_url}/jobs/poll", timeout=10).json()["jobs"]
    assert [j["id"] for j in everything] == [block["id"], failed["id"], echo["id"]]
    assert everything[1]["error"] == "ValueError: old failure"
    assert httpx.post(f"{second.base_url}/jobs/kill/{block['id']}", timeout=10).status_code == 409

    # the restarted server runs new work normally
    assert wait_job(second, submit(second, "test.echo")["id"])["state"] == "succeeded"
    assert second.stop() == 0


def test_sigterm_says_goodbye_to_ws_clients_and_exits_cleanly(env, servers):
    server = servers(env)
    with connect(server.ws_base + "/jobs/ws", open_timeout=10, close_timeout=5) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot"
        server.process.send_signal(signal.SIGTERM)
        messages = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                messages.append(json.loads(ws.recv(timeout=15)))
    assert [m["type"] for m in messages if m["type"] != "heartbeat"] == ["shutdown"]
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert server.stop() == 0, server.output
    assert "Traceback" not in server.output, server.output


def test_sigterm_with_a_running_job_cancels_it_and_exits_cleanly(env, servers):
    first = servers(env)
    job = submit(first, "test.sleep", {"seconds": 120, "steps": 1200})
    wait_job(first, job["id"], "running")
    assert first.stop(signal.SIGTERM) == 0, first.output

    second = servers(env)
    stopped = get_job(second, job["id"])
    assert stopped["state"] == "cancelled"
    assert stopped["error"] is None
    assert second.stop() == 0
