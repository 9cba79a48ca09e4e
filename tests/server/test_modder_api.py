"""The modder hook bus over HTTP: overview, history, the test emitter, and the webhook routes
(flag gate, registration, target policy, listing, deletion). Every error uses the envelope."""

from __future__ import annotations

import pytest

from comfyvn.config import feature_flags
from comfyvn.config.settings import SettingsManager
from tests.conftest import assert_envelope

HOOKS = "/api/modder/hooks"
WEBHOOKS = "/api/modder/hooks/webhooks"
SECRET = "0123456789abcdef-secret"
PUBLIC = "https://93.184.216.34/hook"  # a global address literal: no DNS, never contacted here
CORE_EVENTS = {"flags.changed", "settings.changed", "on_job_submitted", "on_job_started", "on_job_progress",
               "on_job_finished", "on_modder_test"}


def emit(client, event="on_modder_test", payload=None):
    body = {"event": event}
    if payload is not None:
        body["payload"] = payload
    return client.post(f"{HOOKS}/test", json=body)


def allow(*entries: str) -> None:
    SettingsManager().save({"modder": {"webhooks": {"allow": list(entries)}}})


@pytest.fixture
def enabled(client):
    response = client.post("/api/flags/enable_modder_webhooks", json={"enabled": True})
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is True
    return client


# -- overview and history ------------------------------------------------------------------------
def test_overview_lists_declared_events_and_state(client):
    body = client.get(HOOKS).json()
    names = [e["name"] for e in body["events"]]
    assert names == sorted(names)
    assert CORE_EVENTS <= set(names)
    test_event = next(e for e in body["events"] if e["name"] == "on_modder_test")
    assert set(test_event["fields"]) == {"message", "data"}
    assert test_event["owner"] == "core" and test_event["description"]
    assert body["history"] == []
    assert body["emitted"] == 0
    assert body["webhooks"] == 0
    assert body["listeners"] >= 2  # the WebSocket bridge and the webhook service listen to '*'
    assert "core" in [p["name"] for p in body["plugins"]["plugins"]]


def test_overview_includes_recent_history(client):
    for i in range(3):
        assert emit(client, payload={"message": str(i), "data": i}).status_code == 200
    body = client.get(HOOKS, params={"limit": 2}).json()
    assert [e["payload"]["message"] for e in body["history"]] == ["1", "2"]
    assert body["emitted"] == 3


def test_test_endpoint_emits_the_default_payload(client):
    response = client.post(f"{HOOKS}/test", json={})
    assert response.status_code == 200, response.text
    envelope = response.json()["envelope"]
    assert envelope["event"] == "on_modder_test"
    assert set(envelope["payload"]) == {"message", "data"}
    assert isinstance(envelope["timestamp"], float)
    assert client.get(f"{HOOKS}/history").json()["history"] == [envelope]


def test_test_endpoint_emits_any_declared_event(client):
    payload = {"job_id": "j1", "kind": "test.sleep", "state": "queued", "priority": 0}
    response = emit(client, "on_job_submitted", payload)
    assert response.status_code == 200, response.text
    assert response.json()["envelope"]["payload"] == payload
    history = client.get(f"{HOOKS}/history", params={"event": "on_job_*"}).json()["history"]
    assert [e["event"] for e in history] == ["on_job_submitted"]


def test_history_filters_by_event_pattern_and_limit(client):
    emit(client, payload={"message": "a", "data": None})
    client.post("/api/flags/enable_modder_webhooks", json={"enabled": True})  # flags.changed
    emit(client, payload={"message": "b", "data": None})
    emit(client, "on_job_started", {"job_id": "j", "kind": "k"})
    emit(client, payload={"message": "c", "data": None})

    def events(**params):
        response = client.get(f"{HOOKS}/history", params=params)
        assert response.status_code == 200, response.text
        return [e["event"] for e in response.json()["history"]]

    assert events() == ["on_modder_test", "flags.changed", "on_modder_test", "on_job_started", "on_modder_test"]
    assert events(event="on_modder_test") == ["on_modder_test"] * 3
    assert events(event="on_*") == ["on_modder_test", "on_modder_test", "on_job_started", "on_modder_test"]
    assert events(event="flags.*") == ["flags.changed"]
    assert events(event="nothing*") == []
    assert events(limit=2) == ["on_job_started", "on_modder_test"]
    assert events(limit=0) == []
    messages = [e["payload"]["message"] for e in
                client.get(f"{HOOKS}/history", params={"event": "on_modder_test", "limit": 2}).json()["history"]]
    assert messages == ["b", "c"]


@pytest.mark.parametrize("params", [{"limit": -1}, {"limit": 10001}, {"limit": "ten"}])
def test_history_rejects_bad_limits(client, params):
    error = assert_envelope(client.get(f"{HOOKS}/history", params=params), 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "query.limit"


# -- the test emitter's errors -------------------------------------------------------------------
def test_missing_payload_fields_are_named(client):
    error = assert_envelope(emit(client, payload={"message": "no data"}), 422, "payload_mismatch")
    assert error["details"] == {"event": "on_modder_test", "missing": ["data"], "undeclared": []}
    assert "data" in error["message"] and "missing" in error["message"]
    assert client.get(f"{HOOKS}/history").json()["history"] == []


def test_undeclared_payload_fields_are_named(client):
    response = emit(client, payload={"message": "m", "data": 1, "colour": "red", "size": 2})
    error = assert_envelope(response, 422, "payload_mismatch")
    assert error["details"] == {"event": "on_modder_test", "missing": [], "undeclared": ["colour", "size"]}
    assert "colour" in error["message"] and "size" in error["message"]


def test_missing_and_undeclared_fields_together(client):
    response = emit(client, "on_job_started", {"job_id": "j", "knd": "typo"})
    error = assert_envelope(response, 422, "payload_mismatch")
    assert error["details"] == {"event": "on_job_started", "missing": ["kind"], "undeclared": ["knd"]}


def test_undeclared_event_is_rejected(client):
    error = assert_envelope(emit(client, "on_modder_tset", {"message": "m", "data": None}), 422,
                            "undeclared_event")
    assert error["details"] == {"event": "on_modder_tset"}
    assert "on_modder_tset" in error["message"]
    assert client.get(HOOKS).json()["emitted"] == 0


@pytest.mark.parametrize("body", [{"payload": ["not", "an", "object"]}, {"payload": "text"}, {"event": 5}])
def test_malformed_test_bodies_use_the_envelope(client, body):
    error = assert_envelope(client.post(f"{HOOKS}/test", json=body), 422, "validation_error")
    assert error["details"]["errors"]


def test_invalid_json_uses_the_envelope(client):
    response = client.post(f"{HOOKS}/test", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_envelope(response, 422, "validation_error")


def test_unknown_routes_and_methods_use_the_envelope(client):
    assert_envelope(client.get(f"{HOOKS}/nope"), 404, "not_found")
    assert_envelope(client.put(f"{HOOKS}/test", json={}), 405, "method_not_allowed")
    assert_envelope(client.delete(f"{HOOKS}/history"), 405, "method_not_allowed")


# -- webhook routes: flag gate -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", WEBHOOKS, {"url": PUBLIC, "events": ["on_job_finished"]}),
        ("POST", WEBHOOKS, {"action": "list"}),
        ("GET", WEBHOOKS, None),
        ("GET", f"{WEBHOOKS}/deliveries", None),
        ("GET", f"{WEBHOOKS}/abc/deliveries", None),
        ("DELETE", f"{WEBHOOKS}/abc", None),
    ],
)
def test_webhook_routes_answer_feature_disabled_while_the_flag_is_off(client, method, path, body):
    assert feature_flags.is_enabled("enable_modder_webhooks") is False
    response = client.request(method, path, json=body)
    error = assert_envelope(response, 403, "feature_disabled")
    assert error["details"] == {"flag": "enable_modder_webhooks"}
    assert "enable_modder_webhooks" in error["message"]


def test_flag_off_registers_nothing(client):
    assert_envelope(client.post(WEBHOOKS, json={"url": PUBLIC, "events": ["on_job_finished"]}), 403,
                    "feature_disabled")
    client.post("/api/flags/enable_modder_webhooks", json={"enabled": True})
    assert client.get(WEBHOOKS).json() == {"webhooks": []}


def test_switching_the_flag_back_off_closes_the_routes(enabled):
    client = enabled
    assert client.get(WEBHOOKS).status_code == 200
    client.post("/api/flags/enable_modder_webhooks", json={"enabled": False})
    assert_envelope(client.get(WEBHOOKS), 403, "feature_disabled")


# -- webhook routes: registration and management -------------------------------------------------
def test_register_list_and_delete(enabled):
    client = enabled
    response = client.post(WEBHOOKS, json={"url": PUBLIC, "events": ["on_job_*", "on_job_finished"],
                                           "secret": SECRET, "description": "build bot"})
    assert response.status_code == 200, response.text
    webhook = response.json()["webhook"]
    assert webhook["secret"] == SECRET  # shown once, at registration
    assert webhook["secret_hint"] == "..." + SECRET[-4:]
    assert webhook["url"] == PUBLIC
    assert webhook["events"] == ["on_job_*", "on_job_finished"]
    assert webhook["description"] == "build bot"

    generated = client.post(WEBHOOKS, json={"url": PUBLIC, "events": ["on_job_started"]}).json()["webhook"]
    assert len(generated["secret"]) == 64

    listed = client.get(WEBHOOKS).json()["webhooks"]
    assert {w["id"] for w in listed} == {webhook["id"], generated["id"]}
    assert all("secret" not in w for w in listed)
    assert SECRET not in client.get(WEBHOOKS).text and generated["secret"] not in client.get(WEBHOOKS).text
    assert client.post(WEBHOOKS, json={"action": "list"}).json()["webhooks"] == listed
    assert client.get(HOOKS).json()["webhooks"] == 2

    deliveries = client.get(f"{WEBHOOKS}/{webhook['id']}/deliveries")
    assert deliveries.status_code == 200 and deliveries.json() == {"deliveries": []}
    assert client.get(f"{WEBHOOKS}/deliveries").json() == {"deliveries": []}

    deleted = client.delete(f"{WEBHOOKS}/{webhook['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["deleted"]["id"] == webhook["id"]
    assert "secret" not in deleted.json()["deleted"]
    by_action = client.post(WEBHOOKS, json={"action": "delete", "id": generated["id"]})
    assert by_action.status_code == 200 and by_action.json()["deleted"]["id"] == generated["id"]
    assert client.get(WEBHOOKS).json() == {"webhooks": []}


def test_unknown_webhook_ids_are_not_found(enabled):
    client = enabled
    for response in (
        client.delete(f"{WEBHOOKS}/nope"),
        client.post(WEBHOOKS, json={"action": "delete", "id": "nope"}),
        client.get(f"{WEBHOOKS}/nope/deliveries"),
    ):
        error = assert_envelope(response, 404, "not_found")
        assert error["details"] == {"kind": "webhook", "id": "nope"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["on_job_finished"]}, "url"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC}, "events"),
        ({"url": PUBLIC, "events": ["on_jbo_finished"]}, "events"),
        ({"url": PUBLIC, "events": ["on_job_finished"], "secret": "too-short"}, "secret"),
        ({"action": "delete"}, "id"),
        ({"url": "ftp://93.184.216.34/hook", "events": ["on_job_finished"]}, "url"),
        ({"url": "file:///etc/passwd", "events": ["on_job_finished"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["on_job_finished"]}, "url"),
        ({"url": "93.184.216.34/hook", "events": ["on_job_finished"]}, "url"),
    ],
)
def test_invalid_registrations_are_rejected(enabled, body, field):
    error = assert_envelope(enabled.post(WEBHOOKS, json=body), 422, "invalid_input")
    assert error["details"]["field"] == field
    assert enabled.get(WEBHOOKS).json() == {"webhooks": []}


@pytest.mark.parametrize("body", [{"action": "purge"}, {"url": PUBLIC, "events": "on_job_finished"},
                                  {"url": PUBLIC, "events": ["on_job_finished"], "secret": 123}])
def test_malformed_webhook_bodies_use_the_envelope(enabled, body):
    assert_envelope(enabled.post(WEBHOOKS, json=body), 422, "validation_error")


# -- webhook routes: target policy ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:{port}/hook", "127.0.0.1"),
        ("http://10.0.0.5/hook", "10.0.0.5"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://localhost:{port}/hook", "127.0.0.1"),
        ("http://192.168.1.1/hook", "192.168.1.1"),
        ("http://[::1]:{port}/hook", "::1"),
        ("http://0.0.0.0:{port}/hook", "0.0.0.0"),
    ],
)
def test_internal_targets_are_rejected_by_default(enabled, url, address):
    url = url.format(port=8123)
    response = enabled.post(WEBHOOKS, json={"url": url, "events": ["on_job_finished"]})
    error = assert_envelope(response, 403, "webhook_target_not_allowed")
    assert address in error["details"]["addresses"]
    assert "modder.webhooks.allow" in error["message"]
    assert enabled.get(WEBHOOKS).json() == {"webhooks": []}


def test_allowlisted_address_host_and_network(enabled):
    client = enabled

    def register(url: str):
        return client.post(WEBHOOKS, json={"url": url, "events": ["on_job_finished"]})

    allow("127.0.0.1")
    assert register("http://127.0.0.1:8123/hook").status_code == 200
    assert_envelope(register("http://10.0.0.5/hook"), 403, "webhook_target_not_allowed")

    allow("localhost")
    assert register("http://localhost:8123/hook").status_code == 200
    assert_envelope(register("http://127.0.0.1:8123/hook"), 403, "webhook_target_not_allowed")

    allow("10.0.0.0/8", "127.0.0.0/8")
    assert register("http://10.0.0.5/hook").status_code == 200
    assert register("http://10.255.1.2:9000/x").status_code == 200
    assert register("http://127.0.0.1:8123/hook").status_code == 200
    assert register("http://localhost:8123/hook").status_code == 200  # resolves into 127.0.0.0/8
    assert_envelope(register("http://169.254.169.254/latest/"), 403, "webhook_target_not_allowed")
    assert_envelope(register("http://192.168.0.10/"), 403, "webhook_target_not_allowed")

    allow()
    assert_envelope(register("http://10.0.0.5/hook"), 403, "webhook_target_not_allowed")
    assert len(client.get(WEBHOOKS).json()["webhooks"]) == 6


def test_public_targets_need_no_allowlist(enabled):
    response = enabled.post(WEBHOOKS, json={"url": "http://8.8.8.8:8080/hook", "events": ["on_job_finished"]})
    assert response.status_code == 200, response.text


def test_allowlist_set_through_the_settings_api_applies_at_once(enabled):
    client = enabled
    url = "http://127.0.0.1:8123/hook"
    assert_envelope(client.post(WEBHOOKS, json={"url": url, "events": ["on_job_finished"]}), 403,
                    "webhook_target_not_allowed")
    response = client.post("/settings/set", json={"key": "modder.webhooks.allow", "value": ["127.0.0.1/32"]})
    assert response.status_code == 200, response.text
    changed = client.get(f"{HOOKS}/history", params={"event": "settings.changed"}).json()["history"]
    assert [e["payload"] for e in changed] == [{"sections": ["modder"]}]
    assert client.post(WEBHOOKS, json={"url": url, "events": ["on_job_finished"]}).status_code == 200
