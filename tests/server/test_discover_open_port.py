"""``POST /api/providers/discover`` against the fake ComfyUI and ``GET /api/system/open_port``."""

from __future__ import annotations

import socket

import pytest

from comfyvn.compute import discover
from comfyvn.config.baseurl_authority import find_open_port
from tests.conftest import assert_envelope
from tests.support.comfy_server import VERSION, FakeComfyUI


@pytest.fixture
def comfy(tmp_path):
    with FakeComfyUI(tmp_path / "comfy") as server:
        yield server


def test_discover_finds_the_fake_comfyui_and_not_a_silent_port(client, comfy):
    silent = find_open_port("127.0.0.1", 0)  # nothing listens there
    answer = client.post("/api/providers/discover", json={"ports": [comfy.port, silent], "timeout": 2}).json()
    assert answer["tried"] == 4 and answer["timeout"] == 2
    assert [f["base_url"] for f in answer["found"]] == [comfy.base_url]
    found = answer["found"][0]
    assert found["aliases"] == [f"http://localhost:{comfy.port}"]  # the same server, listed once
    assert found["system"]["comfyui_version"] == VERSION and found["system"]["python_version"]
    assert found["devices"][0]["name"] == "cpu" and found["devices"][0]["vram_total"] > 0
    assert found["registered"] is None
    assert ("GET", "/system_stats") in comfy.requests
    # discovery registers nothing; once added, the server is marked with its provider id
    assert [p["id"] for p in client.get("/api/providers").json()["providers"]] == ["builtin"]
    client.post("/api/providers", json={"id": "local-comfy", "base_url": f"http://localhost:{comfy.port}/"})
    again = client.post("/api/providers/discover", json={"hosts": ["127.0.0.1"], "ports": [comfy.port]}).json()
    assert again["tried"] == 1 and again["found"][0]["registered"] == "local-comfy"


def test_discover_defaults_and_a_stopped_server(client, comfy):
    port = comfy.port
    comfy.stop()
    answer = client.post("/api/providers/discover", json={"ports": [port], "timeout": 0.001}).json()
    assert answer == {"found": [], "tried": 2, "timeout": discover.MIN_TIMEOUT}
    assert discover.candidates() == ["http://127.0.0.1:8188", "http://localhost:8188", "http://127.0.0.1:8000",
                                     "http://localhost:8000", "http://127.0.0.1:8189", "http://localhost:8189",
                                     "http://127.0.0.1:8190", "http://localhost:8190"]
    assert discover.candidates(["::1", "GPU-Box.local"], [8188]) == ["http://[::1]:8188", "http://gpu-box.local:8188"]
    assert discover.clamp_timeout(60) == discover.MAX_TIMEOUT


@pytest.mark.parametrize("body, field", [
    ({"ports": [0]}, "ports"),
    ({"ports": [65536]}, "ports"),
    ({"ports": ["8188"]}, "ports"),
    ({"ports": []}, "ports"),
    ({"hosts": []}, "hosts"),
    ({"hosts": [8188]}, "hosts"),
    ({"hosts": ["http://127.0.0.1"]}, "hosts"),
    ({"hosts": ["127.0.0.1/x"]}, "hosts"),
    ({"hosts": ["user@127.0.0.1"]}, "hosts"),
    ({"hosts": ["127.0.0.1:8188"]}, "hosts"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -1}, "timeout"),
    ({"colour": 1}, "colour"),
    ({"hosts": [f"10.0.0.{n}" for n in range(9)], "ports": list(range(8000, 8008))}, "ports"),  # 72 candidates
])
def test_discover_refuses_bad_bodies(client, body, field):
    error = assert_envelope(client.post("/api/providers/discover", json=body), 422)
    assert field in error["message"] or field in str(error["details"]), error


def test_open_port_skips_a_listening_port(client):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        answer = client.get("/api/system/open_port", params={"host": "127.0.0.1", "start": taken, "count": 50}).json()
        assert answer["host"] == "127.0.0.1" and answer["port"] > taken
        assert answer["tried"] == answer["port"] - taken + 1
        error = assert_envelope(client.get("/api/system/open_port", params={"start": taken, "count": 1}), 409, "conflict")
        assert str(taken) in error["message"] and error["details"]["tried"] == 1
    default = client.get("/api/system/open_port", params={"host": "localhost"}).json()
    assert default["host"] == "127.0.0.1" and default["port"] >= 8001


@pytest.mark.parametrize("params", [{"start": 0}, {"start": 65536}, {"count": 0}, {"host": "gpu-box"},
                                    {"host": "192.0.2.1"}, {"host": ""}])
def test_open_port_refuses_bad_input(client, params):
    assert_envelope(client.get("/api/system/open_port", params=params), 422)
