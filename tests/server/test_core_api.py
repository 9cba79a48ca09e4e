"""The server core: error envelope, request ids, body limit, API token, status and metrics,
settings and flags endpoints."""

from __future__ import annotations

import json

import pytest
import websockets
from fastapi.testclient import TestClient

from comfyvn.config import feature_flags
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.server.app import create_app
from tests.conftest import assert_envelope
from tests.support.servers import ThreadServer


# -- envelope and request ids ----------------------------------------------------------------------
def test_unknown_route_and_wrong_method_use_the_envelope(client):
    error = assert_envelope(client.get("/no/such/route"), 404, "not_found")
    assert "/no/such/route" in error["message"]
    error = assert_envelope(client.delete("/health"), 405, "method_not_allowed")
    assert "DELETE" in error["message"]


def test_validation_error_names_the_field(client):
    error = assert_envelope(client.post("/settings/set", json={"value": 1}), 422, "validation_error")
    assert "body.key" in error["message"]
    assert error["details"]["errors"][0]["field"] == "body.key"


def test_malformed_json_body_is_a_validation_error(client):
    response = client.post("/settings/set", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "validation_error")


def test_request_id_is_echoed_from_the_client(client):
    response = client.get("/nope", headers={"X-Request-ID": "trace-me-42"})
    assert assert_envelope(response, 404)["request_id"] == "trace-me-42"
    assert client.get("/health", headers={"X-Request-ID": "abc"}).headers["x-request-id"] == "abc"


def test_unexpected_exception_is_a_500_envelope_without_internals(app):
    @app.get("/boom-test")
    def boom() -> None:
        raise RuntimeError("secret path /home/someone/.ssh")

    with TestClient(app, raise_server_exceptions=False) as client:
        error = assert_envelope(client.get("/boom-test"), 500, "internal_error")
    assert ".ssh" not in error["message"]


def test_body_over_the_limit_is_rejected_with_413(runtime_root):
    SettingsManager().save({"server": {"max_body_bytes": 1000}})
    with TestClient(create_app(configure_logging=False)) as client:
        big = {"settings": {"blob": "x" * 5000}}
        error = assert_envelope(client.post("/settings/save", json=big), 413, "payload_too_large")
        assert "1000" in error["message"]
        # nothing of the rejected body was stored
        assert "blob" not in client.get("/settings/get").json()["settings"]
        assert client.post("/settings/save", json={"settings": {"small": 1}}).status_code == 200


def test_chunked_body_over_the_limit_is_rejected_with_413(runtime_root):
    SettingsManager().save({"server": {"max_body_bytes": 1000}})
    with TestClient(create_app(configure_logging=False)) as client:
        def chunks():
            yield b'{"settings": {"blob": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}}'

        response = client.post("/settings/save", content=chunks(), headers={"content-type": "application/json"})
        assert_envelope(response, 413, "payload_too_large")


# -- API token -------------------------------------------------------------------------------------
def test_loopback_server_needs_no_token(client):
    assert client.get("/status").status_code == 200
    assert client.get("/status").json()["auth_required"] is False


def test_exposed_server_requires_the_token(runtime_root):
    with TestClient(create_app(require_token=True, configure_logging=False)) as client:
        token = (runtime_root / "config" / "api_token").read_text().strip()
        assert len(token) >= 32
        assert (runtime_root / "config" / "api_token").stat().st_mode & 0o777 == 0o600
        error = assert_envelope(client.get("/status"), 401, "unauthorized")
        assert "api_token" in error["message"]
        assert_envelope(client.get("/status", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert client.get("/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/health").status_code == 200  # liveness stays open
        assert client.get("/healthz").status_code == 200


def test_env_host_beyond_loopback_turns_the_token_on(runtime_root, monkeypatch):
    monkeypatch.setenv("COMFYVN_SERVER_HOST", "0.0.0.0")
    monkeypatch.setenv("COMFYVN_API_TOKEN", "t" * 40)
    with TestClient(create_app(configure_logging=False)) as client:
        assert client.get("/status").status_code == 401
        assert client.get("/status", headers={"Authorization": "Bearer " + "t" * 40}).status_code == 200


def test_websocket_needs_the_token_when_exposed(runtime_root):
    server = ThreadServer(create_app(require_token=True, configure_logging=False)).start()
    try:
        token = (runtime_root / "config" / "api_token").read_text().strip()

        async def attempt(url: str, headers: dict | None = None) -> dict:
            async with websockets.connect(url, additional_headers=headers or {}) as ws:
                return json.loads(await ws.recv())

        import asyncio

        with pytest.raises(websockets.InvalidStatus) as denied:
            asyncio.run(attempt(server.ws_base + "/jobs/ws"))
        assert denied.value.response.status_code == 401
        assert json.loads(denied.value.response.body)["error"]["code"] == "unauthorized"
        assert asyncio.run(attempt(server.ws_base + "/jobs/ws", {"Authorization": f"Bearer {token}"}))["type"] == "snapshot"
        assert asyncio.run(attempt(server.ws_base + f"/jobs/ws?token={token}"))["type"] == "snapshot"
    finally:
        server.stop()


# -- status, metrics ------------------------------------------------------------------------------
def test_status_reports_version_uptime_flags_and_routers(client):
    feature_flags.set_enabled("enable_modder_webhooks", True)
    body = client.get("/status").json()
    from comfyvn import __version__

    assert body["version"] == __version__
    assert body["uptime_seconds"] >= 0
    assert "enable_modder_webhooks" in body["flags"]["enabled"]
    names = {r["name"] for r in body["routers"]}
    assert {"comfyvn.server.routes.health", "comfyvn.server.routes.jobs", "comfyvn.server.routes.modder"} <= names
    assert all(r["owner"] and r["routes"] > 0 for r in body["routers"])


def test_metrics_report_cpu_memory_disk_and_queues(client):
    body = client.get("/system/metrics").json()
    assert body["cpu"]["count"] >= 1
    assert 0 < body["memory"]["total"] and body["memory"]["process_rss"] > 0
    assert body["disk"]["total"] >= body["disk"]["free"] > 0
    assert set(body["queues"]["jobs"]) == {"queued", "delayed", "running"}
    assert set(body["queues"]["websockets"]) == {"jobs", "modder"}


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/jobs/submit" in spec["paths"] and "/settings/save" in spec["paths"]


def test_router_import_error_fails_startup(runtime_root):
    from comfyvn.core import plugins

    class Broken:
        @plugins.hookimpl
        def comfyvn_routers(self):
            import comfyvn.server.routes.does_not_exist  # noqa: F401

    plugins.register(Broken(), "broken")
    original_reset = plugins.reset
    try:
        plugins.reset = lambda: None  # keep the broken plugin through create_app's reset
        with pytest.raises(ModuleNotFoundError):
            create_app(configure_logging=False)
    finally:
        plugins.reset = original_reset


# -- settings -------------------------------------------------------------------------------------
def test_settings_set_save_get_deep_merge(client, runtime_root):
    assert client.get("/settings/get", params={"key": "server.port"}).json()["value"] == 8001
    client.post("/settings/set", json={"key": "render.provider", "value": "builtin"})
    client.post("/settings/save", json={"settings": {"render": {"size": [1280, 720]}, "server": {"port": 8010}}})
    settings = client.get("/settings/get").json()["settings"]
    assert settings["render"] == {"provider": "builtin", "size": [1280, 720]}
    assert settings["server"]["port"] == 8010 and settings["server"]["host"] == "127.0.0.1"
    stored = json.loads((runtime_root / "config" / "settings.json").read_text())
    assert stored == {"render": {"provider": "builtin", "size": [1280, 720]}, "server": {"port": 8010}}


def test_settings_errors(client):
    assert_envelope(client.get("/settings/get", params={"key": "no.such.key"}), 404, "not_found")
    assert_envelope(client.post("/settings/set", json={"key": "a..b", "value": 1}), 422, "invalid_input")
    assert_envelope(client.post("/settings/save", json={"settings": [1, 2]}), 422, "validation_error")


def test_settings_change_is_published(client):
    seen = []
    modder_hooks.subscribe("settings.changed", seen.append)
    client.post("/settings/save", json={"settings": {"b": 1, "a": {"x": 2}}})
    assert seen[-1]["payload"] == {"sections": ["a", "b"]}


# -- flags ----------------------------------------------------------------------------------------
def test_flags_list_toggle_and_gate(client, runtime_root):
    flags = {f["name"]: f for f in client.get("/api/flags").json()["flags"]}
    assert flags["enable_modder_webhooks"]["enabled"] is False
    assert flags["enable_modder_webhooks"]["owner"] == "core"
    error = assert_envelope(client.get("/api/modder/hooks/webhooks"), 403, "feature_disabled")
    assert error["details"]["flag"] == "enable_modder_webhooks"

    seen = []
    modder_hooks.subscribe("flags.changed", seen.append)
    body = client.post("/api/flags/enable_modder_webhooks", json={"enabled": True}).json()
    assert body["enabled"] is True
    assert seen[-1]["payload"] == {"name": "enable_modder_webhooks", "enabled": True, "previous": False}
    assert client.get("/api/modder/hooks/webhooks").status_code == 200
    stored = json.loads((runtime_root / "config" / "comfyvn.json").read_text())
    assert stored["features"]["enable_modder_webhooks"] is True


def test_flag_errors(client):
    assert_envelope(client.get("/api/flags/no_such_flag"), 404, "unknown_flag")
    assert_envelope(client.post("/api/flags/no_such_flag", json={"enabled": True}), 404, "unknown_flag")
    assert_envelope(client.post("/api/flags/enable_modder_webhooks", json={"enabled": "yes please"}), 422,
                    "validation_error")


def test_flags_refresh_picks_up_a_hand_edit(client, runtime_root):
    path = runtime_root / "config" / "comfyvn.json"
    path.write_text(json.dumps({"features": {"enable_modder_webhooks": True}}))
    flags = {f["name"]: f for f in client.post("/api/flags/refresh").json()["flags"]}
    assert flags["enable_modder_webhooks"]["enabled"] is True
