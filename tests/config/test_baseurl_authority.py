"""Base URL authority: one test per resolution level proving it beats every lower level, plus the
helpers (connectable hosts, runtime state, free ports)."""

from __future__ import annotations

import os
import socket

import pytest

from comfyvn.config import baseurl_authority as authority
from comfyvn.config.settings import SettingsManager
from comfyvn.core.store import JsonDocument, atomic_write_json


def _comfyvn_json(server: dict) -> None:
    from comfyvn.config import runtime_paths

    JsonDocument(runtime_paths.config_file("comfyvn.json")).update({"server": server})


def _settings(server: dict) -> None:
    SettingsManager().save({"server": server})


def _runtime_state(url: str) -> None:
    atomic_write_json(authority.runtime_state_path(), {"server": {"base_url": url, "pid": 1, "port": 1}})


def test_level5_default(runtime_root):
    assert authority.resolve() == authority.Resolution("http://127.0.0.1:8001", "default")
    assert authority.default_base_url() == authority.DEFAULT_BASE_URL
    assert not runtime_root.exists()  # resolving creates nothing


def test_level4_comfyvn_json_beats_default():
    _comfyvn_json({"host": "0.0.0.0", "port": 9400})
    assert authority.resolve() == authority.Resolution("http://127.0.0.1:9400", "comfyvn.json")


def test_level4_comfyvn_json_base_url_beats_its_host_and_port():
    _comfyvn_json({"base_url": "http://studio.lan:7000/", "host": "x", "port": 1})
    assert authority.resolve() == authority.Resolution("http://studio.lan:7000", "comfyvn.json")


def test_level3_settings_beat_comfyvn_json_and_default():
    _comfyvn_json({"base_url": "http://from-comfyvn-json:1"})
    _settings({"host": "10.0.0.5", "port": 9300})
    assert authority.resolve() == authority.Resolution("http://10.0.0.5:9300", "settings")
    _settings({"base_url": "https://settings.example:9301/"})
    assert authority.resolve() == authority.Resolution("https://settings.example:9301", "settings")


def test_level3_settings_defaults_alone_do_not_count():
    """Only values the user stored count; the built-in defaults fall through to lower levels."""
    _comfyvn_json({"port": 9401})
    _settings({"max_body_bytes": 1})
    assert authority.resolve() == authority.Resolution("http://127.0.0.1:9401", "comfyvn.json")


def test_level2_runtime_state_beats_settings_comfyvn_json_and_default():
    _comfyvn_json({"base_url": "http://from-comfyvn-json:1"})
    _settings({"base_url": "http://from-settings:2"})
    _runtime_state("http://127.0.0.1:9200")
    assert authority.resolve() == authority.Resolution("http://127.0.0.1:9200", "runtime_state")


def test_level1_env_beats_every_file(monkeypatch):
    _comfyvn_json({"base_url": "http://from-comfyvn-json:1"})
    _settings({"base_url": "http://from-settings:2"})
    _runtime_state("http://from-state:3")
    monkeypatch.setenv("COMFYVN_SERVER_BASE", "http://server-base:4/")
    assert authority.resolve() == authority.Resolution("http://server-base:4", "env:COMFYVN_SERVER_BASE")
    monkeypatch.setenv("COMFYVN_BASE_URL", "http://base-url:5/")
    assert authority.resolve() == authority.Resolution("http://base-url:5", "env:COMFYVN_BASE_URL")


def test_blank_env_is_ignored(monkeypatch):
    monkeypatch.setenv("COMFYVN_BASE_URL", "   ")
    _settings({"port": 9555})
    assert authority.resolve().source == "settings"


def test_broken_lower_levels_fall_through():
    from comfyvn.config import runtime_paths

    runtime_paths.ensure_dirs()
    authority.runtime_state_path().write_text("{corrupt")
    atomic_write_json(runtime_paths.config_file("settings.json"), {"server": "not an object"})
    _comfyvn_json({"port": 9402})
    assert authority.resolve() == authority.Resolution("http://127.0.0.1:9402", "comfyvn.json")


# -- helpers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "expected"), [
    ("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("  ", "127.0.0.1"), ("*", "127.0.0.1"),
    ("::", "::1"), ("[::]", "::1"), ("192.168.1.4", "192.168.1.4"), (" example.org ", "example.org"),
])
def test_connectable_host(host, expected):
    assert authority.connectable_host(host) == expected


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("0.0.0.0", 8001, "http://127.0.0.1:8001"),
    ("::", 9000, "http://[::1]:9000"),
    ("fe80::1", 80, "http://[fe80::1]:80"),
    ("[::1]", 81, "http://[::1]:81"),
    ("localhost", "82", "http://localhost:82"),
])
def test_make_url(host, port, expected):
    assert authority.make_url(host, port) == expected


def test_write_and_clear_runtime_state(runtime_root):
    url = authority.write_runtime_state("0.0.0.0", 9123)
    assert url == "http://127.0.0.1:9123"
    assert authority.resolve() == authority.Resolution(url, "runtime_state")
    state = JsonDocument(authority.runtime_state_path()).read()["server"]
    assert state["bind_host"] == "0.0.0.0" and state["port"] == 9123 and state["pid"] == os.getpid()
    authority.clear_runtime_state(pid=os.getpid() + 100000)  # not ours: kept
    assert authority.runtime_state_path().exists()
    authority.clear_runtime_state()
    assert not authority.runtime_state_path().exists()
    assert authority.resolve().source == "default"
    authority.clear_runtime_state()  # nothing to clear: harmless


def test_listening_port_is_not_free_and_find_open_port_skips_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert authority.port_is_free("127.0.0.1", port) is False
        found = authority.find_open_port("127.0.0.1", port, attempts=50)
        assert found > port
        assert authority.port_is_free("127.0.0.1", found)


def test_find_open_port_zero_asks_the_os():
    port = authority.find_open_port("127.0.0.1", 0)
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # really free


def test_find_open_port_gives_up_with_a_message():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"no free port on 127.0.0.1 between {port} and {port}"):
            authority.find_open_port("127.0.0.1", port, attempts=1)
