"""Shared fixtures. Every test runs with its own runtime root (logs, config, data, cache under
tmp_path) and fresh process-wide registries."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from comfyvn.config import feature_flags
from comfyvn.core import modder_hooks, plugins

TESTS = Path(__file__).resolve().parent
DEV_PLUGINS = TESTS / "dev_plugins"


@pytest.fixture(autouse=True)
def runtime_root(tmp_path, monkeypatch) -> Path:
    for name in list(os.environ):
        if name.startswith("COMFYVN_"):
            monkeypatch.delenv(name)
    root = tmp_path / "runtime"
    monkeypatch.setenv("COMFYVN_RUNTIME_ROOT", str(root))
    monkeypatch.setenv("COMFYVN_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("COMFYVN_LEGACY_LINKS", "0")  # launcher runs must not link into the checkout
    plugins.reset()
    feature_flags._cache = None
    modder_hooks.reset()
    yield root
    from comfyvn.assets import previews, registry
    from comfyvn.render import comfyui

    previews.wait_idle()  # no thumbnail work of this test may land in the next one's folders
    registry.reset()
    comfyui.close_all()  # no bridge to a test's ComfyUI server outlives it
    plugins.reset()
    feature_flags._cache = None


@pytest.fixture
def dev_plugins(monkeypatch) -> Path:
    """Load tests/dev_plugins (job kinds and events used only by tests) as dev plugins."""
    monkeypatch.setenv("COMFYVN_DEV_MODE", "1")
    monkeypatch.setenv("COMFYVN_DEV_PLUGINS_DIR", str(DEV_PLUGINS))
    plugins.reset()
    return DEV_PLUGINS


@pytest.fixture
def app(runtime_root):
    from comfyvn.server.app import create_app

    return create_app(configure_logging=False)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_server(app):
    """The app served by a real uvicorn on a loopback port (for WebSocket and HTTP tests)."""
    from tests.support.servers import ThreadServer

    server = ThreadServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def server_env(runtime_root) -> dict[str, str]:
    """Environment for a server subprocess sharing this test's runtime root."""
    return {**os.environ}


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    """Check an HTTP error answer uses the one error envelope; return its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "status", "request_id", "details"} <= set(error), error
    assert error["status"] == status
    assert error["message"]
    assert error["request_id"] and response.headers.get("x-request-id") == error["request_id"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture
def restore_root_logger():
    """setup_logging() and add_log_file() change the process-wide root logger; put it back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
