"""Signed webhooks: signing and verification, the target policy, the webhook store, and real
deliveries (retries, backoff, failures) to a loopback receiver.

Signatures of real deliveries are checked with an independent verifier written here (hmac +
hashlib), not with comfyvn's own ``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import stat
import sys
import threading
import time

import pytest

from comfyvn import __version__
from comfyvn.config import feature_flags, runtime_paths
from comfyvn.config.baseurl_authority import find_open_port
from comfyvn.config.settings import SettingsManager
from comfyvn.core import webhooks
from comfyvn.core.errors import Forbidden, InvalidInput, NotFound
from comfyvn.core.modder_hooks import HookBus
from comfyvn.core.webhooks import WebhookService, check_target, sign, verify
from tests.support.receiver import ReceivedRequest, WebhookReceiver

SECRET = "s3cret-for-tests-0123456789abcdef"
WEBHOOKS = "/api/modder/hooks/webhooks"


# -- an independent verifier ---------------------------------------------------------------------
def independent_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def independently_verified(secret: str, request: ReceivedRequest) -> bool:
    timestamp = request.header("X-ComfyVN-Timestamp")
    signature = request.header("X-ComfyVN-Signature")
    if not timestamp or not signature or not signature.startswith("sha256="):
        return False
    expected = independent_signature(secret, timestamp, request.body)
    return hmac.compare_digest(expected, signature.removeprefix("sha256="))


# -- sign / verify -------------------------------------------------------------------------------
def test_sign_matches_an_independent_hmac():
    body = b'{"event":"x","payload":{"a":"\xc3\xbc"}}'
    signature = sign(SECRET, 1764000000, body)
    assert signature == "sha256=" + independent_signature(SECRET, "1764000000", body)
    assert sign(SECRET, "1764000000", body) == signature  # str and int timestamps sign the same


def test_verify_accepts_a_good_signature_and_rejects_tampering():
    now = time.time()
    ts = str(int(now))
    body = b'{"event":"on_modder_test","payload":{"data":1,"message":"hi"},"timestamp":1.5}'
    good = "sha256=" + independent_signature(SECRET, ts, body)

    assert verify(SECRET, ts, body, good)
    assert verify(SECRET, ts, body, good, now=now + 299)
    # tampered body, wrong secret, altered signature
    assert not verify(SECRET, ts, body.replace(b'"hi"', b'"ho"'), good)
    assert not verify(SECRET, ts, body + b" ", good)
    assert not verify(SECRET + "x", ts, body, good)
    assert not verify("another-secret-of-enough-length", ts, body, good)
    assert not verify(SECRET, ts, body, good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not verify(SECRET, ts, body, good.removeprefix("sha256="))  # prefix is part of the value
    # the timestamp is signed: changing it breaks the signature even when recent
    assert not verify(SECRET, str(int(now) - 1), body, good)


def test_verify_rejects_stale_future_and_malformed_timestamps():
    ts = 1_700_000_000
    body = b"{}"
    signature = sign(SECRET, ts, body)
    assert verify(SECRET, str(ts), body, signature, now=ts + 10)
    assert verify(SECRET, str(ts), body, signature, now=ts + 300)
    assert not verify(SECRET, str(ts), body, signature, now=ts + 301)  # stale
    assert not verify(SECRET, str(ts), body, signature, now=ts - 301)  # from the future
    assert not verify(SECRET, str(ts), body, signature)  # real clock: long stale
    assert verify(SECRET, str(ts), body, signature, now=ts + 3000, tolerance=3600)
    for bad in ("", "abc", "1.5e9", "17000000OO"):
        assert not verify(SECRET, bad, body, sign(SECRET, bad, body), now=ts)


# -- target policy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "file:///etc/passwd", "gopher://1.1.1.1/", "example.com/hook", "http://", "hook"],
)
def test_check_target_requires_http_urls_with_a_host(url):
    with pytest.raises(InvalidInput) as caught:
        check_target(url, [], ["93.184.216.34"])
    assert caught.value.details == {"field": "url"}
    assert not isinstance(caught.value, Forbidden)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.10", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
)
def test_check_target_rejects_internal_addresses_by_default(address):
    with pytest.raises(Forbidden) as caught:
        check_target("https://hooks.example.com/x", [], [address])
    error = caught.value
    assert error.code == "webhook_target_not_allowed"
    assert error.status == 403
    assert error.details == {"host": "hooks.example.com", "addresses": [address]}
    assert "modder.webhooks.allow" in error.message


def test_check_target_rejects_a_host_with_any_internal_address():
    with pytest.raises(Forbidden) as caught:
        check_target("https://mixed.example.com/", [], ["93.184.216.34", "10.1.2.3"])
    assert caught.value.details["addresses"] == ["10.1.2.3"]


def test_check_target_accepts_public_addresses():
    check_target("https://hooks.example.com/x", [], ["93.184.216.34"])
    check_target("http://hooks.example.com:8080/x", [], ["2606:2800:220:1:248:1893:25c8:1946"])


def test_check_target_fails_when_the_host_does_not_resolve():
    with pytest.raises(InvalidInput) as caught:
        check_target("https://nowhere.invalid/x", [], [])
    assert "does not resolve" in caught.value.message


def test_check_target_allowlist_by_host_address_and_network():
    url = "http://hooks.internal.example/x"
    check_target(url, ["hooks.internal.example"], ["10.0.0.5"])  # host name
    check_target(url, ["HOOKS.Internal.Example "], ["10.0.0.5"])  # case and spaces do not matter
    check_target(url, ["10.0.0.5"], ["10.0.0.5"])  # single address
    check_target(url, ["10.0.0.0/8"], ["10.0.0.5"])  # network
    check_target("http://[::1]:9000/x", ["::1/128"], ["::1"])
    check_target("http://127.0.0.1:9000/x", ["127.0.0.0/8"], ["127.0.0.1"])
    for allow in ([], ["other.example"], ["10.0.0.6"], ["192.168.0.0/16"], ["", "not-an-ip/99"]):
        with pytest.raises(Forbidden):
            check_target(url, allow, ["10.0.0.5"])


def test_check_target_resolves_real_hosts():
    # literal addresses and localhost resolve without any network access
    with pytest.raises(Forbidden) as caught:
        check_target("http://localhost:9/x", [])
    assert caught.value.details["addresses"]
    assert all(not ipaddress.ip_address(a).is_global for a in caught.value.details["addresses"])
    with pytest.raises(Forbidden):
        check_target("http://2130706433/x", [])  # 127.0.0.1 spelled as a number
    check_target("http://localhost:9/x", ["localhost"])
    check_target("http://93.184.216.34/x", [])


# -- the webhook store ---------------------------------------------------------------------------
@pytest.fixture
def service(runtime_root) -> WebhookService:
    runtime_paths.ensure_dirs()
    return WebhookService(settings=SettingsManager(), bus=HookBus(), enabled=lambda: True)


def test_register_persists_with_owner_only_permissions(service):
    record = service.register(url="https://93.184.216.34/hook", events=["on_job_*", "on_modder_test", "on_job_*"],
                              secret=SECRET, description="ci")
    assert record["secret"] == SECRET
    assert record["events"] == ["on_job_*", "on_modder_test"]
    assert record["description"] == "ci"
    assert len(record["id"]) == 16

    path = runtime_paths.config_file("webhooks.json")
    assert service.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["webhooks"][record["id"]]["secret"] == SECRET

    # a fresh service (another process) reads the same store
    again = WebhookService(settings=SettingsManager(), bus=HookBus(), enabled=lambda: True)
    assert [w["id"] for w in again.list()] == [record["id"]]
    assert again.get(record["id"])["secret"] == SECRET


def test_listing_redacts_secrets(service):
    first = service.register(url="https://93.184.216.34/a", events=["on_modder_test"], secret=SECRET)
    second = service.register(url="https://93.184.216.34/b", events=["flags.changed"])
    assert len(second["secret"]) == 64 and second["secret"] != first["secret"]
    listed = service.list()
    assert {w["id"] for w in listed} == {first["id"], second["id"]}
    text = json.dumps(listed)
    assert SECRET not in text and second["secret"] not in text
    for shown in listed:
        assert "secret" not in shown
        assert shown["secret_hint"].startswith("...") and len(shown["secret_hint"]) == 7


def test_register_validates_its_input(service):
    with pytest.raises(InvalidInput) as caught:
        service.register(url="https://93.184.216.34/", events=[])
    assert caught.value.details["field"] == "events"
    with pytest.raises(InvalidInput) as caught:
        service.register(url="https://93.184.216.34/", events=["on_modder_tset"])
    assert caught.value.details == {"field": "events", "event": "on_modder_tset"}
    with pytest.raises(InvalidInput) as caught:
        service.register(url="https://93.184.216.34/", events=["on_modder_test"], secret="short")
    assert caught.value.details["field"] == "secret"
    with pytest.raises(Forbidden):
        service.register(url="http://127.0.0.1:9/", events=["on_modder_test"])
    assert service.list() == []
    assert not runtime_paths.config_file("webhooks.json").exists()


def test_delete_removes_the_webhook(service):
    kept = service.register(url="https://93.184.216.34/a", events=["*"])
    gone = service.register(url="https://93.184.216.34/b", events=["*"], secret=SECRET)
    deleted = service.delete(gone["id"])
    assert deleted["id"] == gone["id"] and "secret" not in deleted
    assert [w["id"] for w in service.list()] == [kept["id"]]
    with pytest.raises(NotFound):
        service.delete(gone["id"])
    with pytest.raises(NotFound):
        service.get(gone["id"])
    stored = json.loads(runtime_paths.config_file("webhooks.json").read_text())
    assert list(stored["webhooks"]) == [kept["id"]]


def test_reading_the_delivery_log_while_it_grows(service):
    """The log is appended on the server loop while HTTP handlers read it from other threads."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stop = threading.Event()
    written = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        delivery = webhooks.Delivery(id="d", webhook_id="w", envelope={"event": "on_modder_test"})
        while not stop.is_set():
            service._record(delivery, "delivered", 200, None, time.perf_counter())
            written[0] += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    reads = 0
    deadline = time.monotonic() + 20
    try:
        # read while the log grows past its bound (and keeps being appended to)
        while (written[0] < 3000 or reads < 2000) and time.monotonic() < deadline:
            service.deliveries("w", limit=50)
            service.deliveries(limit=50)
            reads += 1
    except BaseException as exc:
        errors.append(exc)
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(previous)
    assert errors == [], errors
    assert written[0] >= 3000, "the writer thread did not get to run"
    assert len(service.deliveries(limit=1000)) == 1000  # bounded log


# -- deliveries ----------------------------------------------------------------------------------
def save_webhook_settings(**webhook_settings) -> None:
    config = {"allow": ["127.0.0.1"], "backoff_seconds": 0.05, "max_attempts": 4, "timeout_seconds": 5.0}
    config.update(webhook_settings)
    SettingsManager().save({"modder": {"webhooks": config}})


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def hooks_client(client):
    """The app (lifespan running, so the delivery workers are up) with webhooks enabled and
    127.0.0.1 allowlisted, fast backoff."""
    save_webhook_settings()
    feature_flags.set_enabled("enable_modder_webhooks", True)
    return client


def register(client, url: str, events=("on_modder_test",), secret: str | None = SECRET) -> dict:
    body = {"url": url, "events": list(events)}
    if secret is not None:
        body["secret"] = secret
    response = client.post(WEBHOOKS, json=body)
    assert response.status_code == 200, response.text
    return response.json()["webhook"]


def emit_test(client, message: str = "hello", data=None) -> dict:
    response = client.post("/api/modder/hooks/test", json={"payload": {"message": message, "data": data}})
    assert response.status_code == 200, response.text
    return response.json()["envelope"]


def wait_deliveries(client, webhook_id: str, done, timeout: float = 15.0) -> list[dict]:
    """Poll the delivery log until ``done(entries)``; return the entries."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{WEBHOOKS}/{webhook_id}/deliveries")
        assert response.status_code == 200, response.text
        entries = response.json()["deliveries"]
        if done(entries):
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery log did not reach the expected state: {entries}")
        time.sleep(0.02)


def finished(entries: list[dict]) -> bool:
    return bool(entries) and entries[-1]["outcome"] in ("delivered", "failed")


def test_delivery_is_signed_and_verifies_independently(hooks_client, receiver):
    webhook = register(hooks_client, receiver.url("/hook"))
    envelope = emit_test(hooks_client, "signed", {"n": 1, "text": "ümlaut ✓"})
    [request] = receiver.wait_for(1)
    wait_deliveries(hooks_client, webhook["id"], finished)

    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-ComfyVN-Event") == "on_modder_test"
    assert request.header("X-ComfyVN-Delivery")
    assert request.header("User-Agent") == f"ComfyVN/{__version__}"
    timestamp = request.header("X-ComfyVN-Timestamp")
    assert timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300

    # the body is the envelope the emit returned
    assert json.loads(request.body) == envelope

    assert independently_verified(SECRET, request)
    assert not independently_verified("wrong-secret-0123456789", request)
    tampered = ReceivedRequest(request.method, request.path, request.headers,
                               request.body.replace(b"signed", b"signes"))
    assert not independently_verified(SECRET, tampered)

    # and comfyvn's own verify agrees about the real delivery
    signature = request.header("X-ComfyVN-Signature")
    assert verify(SECRET, timestamp, request.body, signature)
    assert not verify(SECRET, timestamp, tampered.body, signature)
    assert not verify("wrong-secret-0123456789", timestamp, request.body, signature)
    assert not verify(SECRET, timestamp, request.body, signature, now=int(timestamp) + 301)


def test_generated_secret_signs_deliveries(hooks_client, receiver):
    webhook = register(hooks_client, receiver.url("/gen"), secret=None)
    secret = webhook["secret"]
    assert len(secret) == 64 and int(secret, 16) >= 0
    emit_test(hooks_client)
    [request] = receiver.wait_for(1)
    assert independently_verified(secret, request)
    assert not independently_verified(SECRET, request)


def test_successful_delivery_is_logged(hooks_client, receiver):
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client)
    [entry] = wait_deliveries(hooks_client, webhook["id"], finished)
    assert entry["outcome"] == "delivered"
    assert entry["attempt"] == 1
    assert entry["status_code"] == 200
    assert entry["error"] is None
    assert entry["event"] == "on_modder_test"
    assert entry["webhook_id"] == webhook["id"]
    [request] = receiver.received()
    assert entry["delivery_id"] == request.header("X-ComfyVN-Delivery")
    all_entries = hooks_client.get(f"{WEBHOOKS}/deliveries").json()["deliveries"]
    assert entry in all_entries


def test_server_errors_are_retried_with_exponential_backoff(hooks_client, receiver):
    save_webhook_settings(backoff_seconds=0.1, max_attempts=4)
    receiver.respond_with(500, 500)
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client, "retry me")
    entries = wait_deliveries(hooks_client, webhook["id"], finished)

    assert [e["outcome"] for e in entries] == ["retrying", "retrying", "delivered"]
    assert [e["attempt"] for e in entries] == [1, 2, 3]
    assert [e["status_code"] for e in entries] == [500, 500, 200]
    assert entries[0]["error"] == "HTTP 500"
    assert len({e["delivery_id"] for e in entries}) == 1

    requests = receiver.received()
    assert [r.status for r in requests] == [500, 500, 200]
    assert len({r.header("X-ComfyVN-Delivery") for r in requests}) == 1
    assert all(independently_verified(SECRET, r) for r in requests)
    assert len({r.body for r in requests}) == 1  # the same envelope every time
    # backoff doubles: >= 0.1 s before attempt 2, >= 0.2 s before attempt 3 (lower bounds only)
    first_gap = requests[1].received_at - requests[0].received_at
    second_gap = requests[2].received_at - requests[1].received_at
    assert first_gap >= 0.1 * 0.9
    assert second_gap >= 0.2 * 0.9


def test_client_errors_fail_without_retry(hooks_client, receiver):
    receiver.respond_with(404)
    webhook = register(hooks_client, receiver.url("/missing"))
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [(e["outcome"], e["attempt"], e["status_code"]) for e in entries] == [("failed", 1, 404)]
    assert entries[0]["error"] == "HTTP 404"
    assert len(receiver.received()) == 1


@pytest.mark.parametrize("status", [408, 425, 429, 502, 503])
def test_retryable_statuses(hooks_client, receiver, status):
    receiver.respond_with(status)
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [(e["outcome"], e["status_code"]) for e in entries] == [("retrying", status), ("delivered", 200)]


@pytest.mark.parametrize("status", [400, 401, 403, 410, 422])
def test_non_retryable_statuses(hooks_client, receiver, status):
    receiver.respond_with(status)
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [(e["outcome"], e["status_code"]) for e in entries] == [("failed", status)]


def test_connection_refused_is_retried_then_fails(hooks_client):
    save_webhook_settings(max_attempts=3, backoff_seconds=0.05)
    port = find_open_port("127.0.0.1", 0)  # nothing listens there
    webhook = register(hooks_client, f"http://127.0.0.1:{port}/hook")
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [e["outcome"] for e in entries] == ["retrying", "retrying", "failed"]
    assert [e["attempt"] for e in entries] == [1, 2, 3]
    assert all(e["status_code"] is None for e in entries)
    assert all("Connect" in e["error"] for e in entries), entries


def test_persistent_server_errors_fail_after_max_attempts(hooks_client, receiver):
    save_webhook_settings(max_attempts=2)
    receiver.respond_with(500, 500, 500, 500)
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [(e["outcome"], e["attempt"]) for e in entries] == [("retrying", 1), ("failed", 2)]
    assert len(receiver.received()) == 2


def test_target_is_checked_again_at_delivery_time(hooks_client, receiver):
    webhook = register(hooks_client, receiver.url())
    save_webhook_settings(allow=[])  # allowlist entry removed after registration
    emit_test(hooks_client)
    entries = wait_deliveries(hooks_client, webhook["id"], finished)
    assert [(e["outcome"], e["attempt"]) for e in entries] == [("failed", 1)]
    assert "127.0.0.1" in entries[0]["error"]
    assert receiver.received() == []


def test_only_matching_events_are_delivered(hooks_client, receiver):
    jobs = register(hooks_client, receiver.url("/jobs"), events=["on_job_*"])
    tests = register(hooks_client, receiver.url("/tests"), events=["on_modder_*"])
    everything = register(hooks_client, receiver.url("/all"), events=["*"])
    emit_test(hooks_client)
    wait_deliveries(hooks_client, tests["id"], finished)
    wait_deliveries(hooks_client, everything["id"], finished)
    feature_flags.set_enabled("enable_modder_webhooks", True)  # no change, but emits flags.changed
    wait_deliveries(hooks_client, everything["id"], lambda e: len(e) == 2 and finished(e))

    paths = sorted((r.path, r.header("X-ComfyVN-Event")) for r in receiver.received())
    assert paths == [("/all", "flags.changed"), ("/all", "on_modder_test"), ("/tests", "on_modder_test")]
    assert hooks_client.get(f"{WEBHOOKS}/{jobs['id']}/deliveries").json()["deliveries"] == []


def test_nothing_is_delivered_while_the_flag_is_off(client, receiver):
    save_webhook_settings()
    feature_flags.set_enabled("enable_modder_webhooks", True)
    webhook = register(client, receiver.url())
    feature_flags.set_enabled("enable_modder_webhooks", False)
    emit_test(client, "while off")
    feature_flags.set_enabled("enable_modder_webhooks", True)
    emit_test(client, "while on")
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["payload"]["message"] == "while on"
    time.sleep(0.3)  # a delivery of the first event would have been queued before the second
    assert [json.loads(r.body)["payload"]["message"] for r in receiver.received()] == ["while on"]
    entries = client.get(f"{WEBHOOKS}/{webhook['id']}/deliveries").json()["deliveries"]
    assert [e["outcome"] for e in entries] == ["delivered"]


def test_deleting_a_webhook_stops_its_retries(hooks_client, receiver):
    save_webhook_settings(backoff_seconds=0.3, max_attempts=5)
    receiver.respond_with(*[503] * 10)
    webhook = register(hooks_client, receiver.url())
    emit_test(hooks_client)
    wait_deliveries(hooks_client, webhook["id"], lambda e: len(e) >= 1)
    assert hooks_client.delete(f"{WEBHOOKS}/{webhook['id']}").status_code == 200
    count_at_delete = len(receiver.received())
    time.sleep(1.2)  # past the next two backoff steps (0.3 s, then 0.6 s)
    # at most one attempt that had already started before the delete landed
    assert len(receiver.received()) <= count_at_delete + 1
    assert len(receiver.received()) < 5
