"""The modder hook bus: declarations, payload checks, subscriptions, listener isolation, history,
thread safety, and the process-wide bus with the core events."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from comfyvn.config import feature_flags
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.core.modder_hooks import EventSpec, HookBus, PayloadMismatch, UndeclaredEvent

SPECS = {
    "asset.saved": EventSpec("asset.saved", "An asset was saved.", {"uid": "Asset id.", "path": "Where."}),
    "asset.deleted": EventSpec("asset.deleted", "An asset was deleted.", {"uid": "Asset id."}),
    "scene.opened": EventSpec("scene.opened", "A scene was opened.", {"scene": "Scene id."}),
    "ping": EventSpec("ping", "No payload at all."),
}


def make_bus(history_size: int = 500) -> HookBus:
    return HookBus(history_size=history_size, specs=lambda: SPECS)


class Recorder:
    """A thread-safe listener that records the envelopes it gets."""

    def __init__(self, name: str = "", calls: list | None = None) -> None:
        self.name = name
        self.envelopes: list[dict] = []
        self.calls = calls  # shared list of listener names, to check call order
        self._lock = threading.Lock()

    def __call__(self, envelope: dict) -> None:
        with self._lock:
            self.envelopes.append(envelope)
            if self.calls is not None:
                self.calls.append(self.name)

    @property
    def events(self) -> list[str]:
        return [e["event"] for e in self.envelopes]


@pytest.fixture
def bus_log():
    """Records of the bus's own logger (attached directly: independent of the root set-up)."""
    records: list[logging.LogRecord] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("comfyvn.core.modder_hooks")
    handler = ListHandler(level=logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# -- emitting and declarations -------------------------------------------------------------------
def test_emit_returns_the_envelope_and_delivers_it():
    bus = make_bus()
    listener = Recorder()
    bus.subscribe("asset.saved", listener)
    before = time.time()
    payload = {"uid": "a1", "path": "assets/a1.png"}
    envelope = bus.emit("asset.saved", payload)
    after = time.time()

    assert set(envelope) == {"event", "payload", "timestamp"}
    assert envelope["event"] == "asset.saved"
    assert envelope["payload"] == payload
    assert before <= envelope["timestamp"] <= after
    assert listener.envelopes == [envelope]
    assert bus.history() == [envelope]
    assert bus.emitted == 1


def test_envelope_payload_is_a_copy_of_the_callers_dict():
    bus = make_bus()
    payload = {"uid": "a1", "path": "p"}
    envelope = bus.emit("asset.saved", payload)
    payload["uid"] = "changed"
    assert envelope["payload"]["uid"] == "a1"
    assert bus.history()[0]["payload"]["uid"] == "a1"


def test_event_without_fields_takes_an_empty_payload():
    bus = make_bus()
    assert bus.emit("ping", {})["payload"] == {}
    with pytest.raises(PayloadMismatch):
        bus.emit("ping", {"extra": 1})


def test_emitting_an_undeclared_event_raises():
    bus = make_bus()
    listener = Recorder()
    bus.subscribe("*", listener)
    with pytest.raises(UndeclaredEvent) as caught:
        bus.emit("asset.savd", {"uid": "a1", "path": "p"})
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.code == "undeclared_event"
    assert error.status == 422
    assert error.details == {"event": "asset.savd"}
    assert "asset.savd" in error.message
    # nothing was recorded or delivered
    assert listener.envelopes == []
    assert bus.history() == []
    assert bus.emitted == 0


@pytest.mark.parametrize(
    ("payload", "missing", "undeclared"),
    [
        ({"uid": "a1"}, ["path"], []),
        ({}, ["path", "uid"], []),
        ({"uid": "a1", "path": "p", "size": 3}, [], ["size"]),
        ({"uid": "a1", "bytes": 3, "mime": "x"}, ["path"], ["bytes", "mime"]),
    ],
)
def test_payload_must_have_exactly_the_declared_fields(payload, missing, undeclared):
    bus = make_bus()
    listener = Recorder()
    bus.subscribe("asset.saved", listener)
    with pytest.raises(PayloadMismatch) as caught:
        bus.emit("asset.saved", payload)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.code == "payload_mismatch"
    assert error.status == 422
    assert error.details == {"event": "asset.saved", "missing": missing, "undeclared": undeclared}
    for name in missing + undeclared:
        assert name in error.message
    if missing:
        assert "missing" in error.message
    if undeclared:
        assert "undeclared" in error.message
    assert listener.envelopes == []
    assert bus.history() == []


@pytest.mark.parametrize("payload", [["uid", "path"], "uid=a1", None, 42])
def test_payload_must_be_a_mapping(payload):
    bus = make_bus()
    with pytest.raises(PayloadMismatch) as caught:
        bus.emit("asset.saved", payload)  # type: ignore[arg-type]
    assert caught.value.details["event"] == "asset.saved"
    assert bus.history() == []


def test_spec_lookup_and_specs_listing():
    bus = make_bus()
    assert bus.spec("asset.deleted") is SPECS["asset.deleted"]
    assert set(bus.specs()) == set(SPECS)
    with pytest.raises(UndeclaredEvent):
        bus.spec("nope")


def test_declarations_are_read_live():
    """A plugin declaring an event later (dev reload) makes it emittable without a new bus."""
    specs = dict(SPECS)
    bus = HookBus(specs=lambda: specs)
    with pytest.raises(UndeclaredEvent):
        bus.emit("late.event", {})
    specs["late.event"] = EventSpec("late.event", "Declared later.")
    assert bus.emit("late.event", {})["event"] == "late.event"


# -- subscriptions -------------------------------------------------------------------------------
def test_subscribing_to_an_undeclared_exact_name_raises():
    bus = make_bus()
    with pytest.raises(UndeclaredEvent):
        bus.subscribe("asset.savd", Recorder())
    assert bus.listener_count() == 0


def test_wildcard_subscriptions_match_by_pattern():
    bus = make_bus()
    assets = Recorder()
    everything = Recorder()
    single = Recorder()
    nothing = Recorder()
    bus.subscribe("asset.*", assets)
    bus.subscribe("*", everything)
    bus.subscribe("scene.opene?", single)
    bus.subscribe("jobs.*", nothing)  # a pattern need not match anything declared

    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    bus.emit("scene.opened", {"scene": "s"})
    bus.emit("asset.deleted", {"uid": "1"})
    bus.emit("ping", {})

    assert assets.events == ["asset.saved", "asset.deleted"]
    assert everything.events == ["asset.saved", "scene.opened", "asset.deleted", "ping"]
    assert single.events == ["scene.opened"]
    assert nothing.events == []


def test_exact_subscription_gets_only_its_event():
    bus = make_bus()
    listener = Recorder()
    bus.subscribe("asset.deleted", listener)
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    bus.emit("asset.deleted", {"uid": "1"})
    assert listener.events == ["asset.deleted"]


def test_listeners_run_in_subscription_order_in_the_emitters_thread():
    bus = make_bus()
    calls: list[str] = []
    threads: list[int] = []
    bus.subscribe("*", Recorder("wildcard-first", calls))
    bus.subscribe("asset.saved", Recorder("exact", calls))
    bus.subscribe("asset.*", Recorder("pattern", calls))
    bus.subscribe("asset.saved", lambda env: threads.append(threading.get_ident()))
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    assert calls == ["wildcard-first", "exact", "pattern"]
    assert threads == [threading.get_ident()]


def test_unsubscribe_stops_delivery_and_is_harmless_twice():
    bus = make_bus()
    exact = Recorder()
    pattern = Recorder()
    stop_exact = bus.subscribe("asset.saved", exact)
    stop_pattern = bus.subscribe("asset.*", pattern)
    assert bus.listener_count() == 2
    bus.emit("asset.saved", {"uid": "1", "path": "p"})

    stop_exact()
    stop_pattern()
    stop_exact()
    stop_pattern()
    assert bus.listener_count() == 0
    bus.emit("asset.saved", {"uid": "2", "path": "p"})

    assert [e["payload"]["uid"] for e in exact.envelopes] == ["1"]
    assert [e["payload"]["uid"] for e in pattern.envelopes] == ["1"]


@pytest.mark.parametrize("event", ["asset.saved", "asset.*"])
def test_calling_one_unsubscribe_twice_leaves_other_subscriptions_of_the_same_listener(event):
    """Each subscribe() is its own subscription: its unsubscribe, however often called, removes
    only that one."""
    bus = make_bus()
    listener = Recorder()
    first = bus.subscribe(event, listener)
    bus.subscribe(event, listener)
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    assert len(listener.envelopes) == 2

    first()
    first()
    assert bus.listener_count() == 1
    bus.emit("asset.saved", {"uid": "2", "path": "p"})
    assert [e["payload"]["uid"] for e in listener.envelopes] == ["1", "1", "2"]


def test_unsubscribe_only_removes_its_own_listener():
    bus = make_bus()
    kept = Recorder()
    dropped = Recorder()
    bus.subscribe("asset.saved", kept)
    stop = bus.subscribe("asset.saved", dropped)
    bus.emit("asset.saved", {"uid": "1", "path": "p"})  # resolves and caches the listener list
    stop()
    bus.emit("asset.saved", {"uid": "2", "path": "p"})
    assert len(kept.envelopes) == 2
    assert len(dropped.envelopes) == 1


def test_subscribing_after_an_emit_is_seen_by_the_next_emit():
    """The per-event listener cache is invalidated by new subscriptions."""
    bus = make_bus()
    early = Recorder()
    bus.subscribe("asset.saved", early)
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    late_exact = Recorder()
    late_pattern = Recorder()
    bus.subscribe("asset.saved", late_exact)
    bus.subscribe("asset.*", late_pattern)
    bus.emit("asset.saved", {"uid": "2", "path": "p"})
    assert len(early.envelopes) == 2
    assert len(late_exact.envelopes) == 1
    assert len(late_pattern.envelopes) == 1


# -- failing listeners ---------------------------------------------------------------------------
def test_a_failing_listener_does_not_affect_others_or_the_emitter(bus_log):
    bus = make_bus()
    before = Recorder()
    after = Recorder()
    wildcard_after = Recorder()

    def broken(envelope):
        raise RuntimeError("listener bug")

    bus.subscribe("asset.saved", before)
    bus.subscribe("asset.saved", broken)
    bus.subscribe("asset.saved", after)
    bus.subscribe("*", wildcard_after)

    envelope = bus.emit("asset.saved", {"uid": "1", "path": "p"})  # must not raise
    envelope2 = bus.emit("asset.saved", {"uid": "2", "path": "p"})

    assert before.envelopes == [envelope, envelope2]
    assert after.envelopes == [envelope, envelope2]
    assert wildcard_after.envelopes == [envelope, envelope2]
    assert bus.history() == [envelope, envelope2]
    assert bus.listener_errors == 2
    assert bus.emitted == 2

    failures = [r for r in bus_log if r.levelno >= logging.ERROR]
    assert len(failures) == 2
    assert all(getattr(r, "hook_event", None) == "asset.saved" for r in failures)
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in failures)


def test_a_listener_may_unsubscribe_itself_while_being_called():
    bus = make_bus()
    other = Recorder()
    calls = []
    holder = {}

    def once(envelope):
        calls.append(envelope["payload"]["uid"])
        holder["stop"]()

    holder["stop"] = bus.subscribe("asset.saved", once)
    bus.subscribe("asset.saved", other)
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    bus.emit("asset.saved", {"uid": "2", "path": "p"})
    assert calls == ["1"]
    assert len(other.envelopes) == 2


# -- history -------------------------------------------------------------------------------------
def test_history_is_a_bounded_ring_oldest_first():
    bus = make_bus(history_size=3)
    for i in range(7):
        bus.emit("asset.deleted", {"uid": str(i)})
    assert [e["payload"]["uid"] for e in bus.history()] == ["4", "5", "6"]
    assert bus.emitted == 7


def test_history_filters_by_pattern_and_limit():
    bus = make_bus()
    bus.emit("asset.saved", {"uid": "1", "path": "p"})
    bus.emit("scene.opened", {"scene": "s1"})
    bus.emit("asset.deleted", {"uid": "1"})
    bus.emit("scene.opened", {"scene": "s2"})
    bus.emit("asset.saved", {"uid": "2", "path": "p"})

    assert [e["event"] for e in bus.history(event="asset.*")] == ["asset.saved", "asset.deleted", "asset.saved"]
    assert [e["payload"]["scene"] for e in bus.history(event="scene.opened")] == ["s1", "s2"]
    assert [e["event"] for e in bus.history(limit=2)] == ["scene.opened", "asset.saved"]
    assert [e["payload"]["uid"] for e in bus.history(event="asset.*", limit=2)] == ["1", "2"]
    assert bus.history(limit=0) == []
    assert len(bus.history(limit=100)) == 5
    assert bus.history(event="nothing.*") == []

    bus.clear_history()
    assert bus.history() == []


def test_history_returns_a_snapshot():
    bus = make_bus()
    bus.emit("ping", {})
    snapshot = bus.history()
    bus.emit("ping", {})
    assert len(snapshot) == 1
    assert len(bus.history()) == 2


# -- threads -------------------------------------------------------------------------------------
def test_concurrent_emits_from_several_threads_are_all_delivered():
    threads_count, per_thread = 8, 300
    total = threads_count * per_thread
    bus = make_bus(history_size=total)
    exact = Recorder()
    wildcard = Recorder()
    bus.subscribe("asset.saved", exact)
    bus.subscribe("asset.*", wildcard)
    stop_churn = threading.Event()
    barrier = threading.Barrier(threads_count + 1)
    errors: list[BaseException] = []

    def churn() -> None:
        # subscriptions coming and going invalidate the listener cache during the emits
        noop = lambda envelope: None  # noqa: E731
        while not stop_churn.is_set():
            bus.subscribe("asset.*", noop)()
            bus.subscribe("asset.saved", noop)()

    def emitter(index: int) -> None:
        try:
            barrier.wait(10)
            for seq in range(per_thread):
                bus.emit("asset.saved", {"uid": f"{index}", "path": str(seq)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    workers = [threading.Thread(target=emitter, args=(i,), daemon=True) for i in range(threads_count)]
    for worker in workers:
        worker.start()
    barrier.wait(10)
    for worker in workers:
        worker.join(60)
    stop_churn.set()
    churner.join(10)

    assert errors == []
    assert not any(worker.is_alive() for worker in workers)
    assert len(exact.envelopes) == total
    assert len(wildcard.envelopes) == total
    assert bus.emitted == total
    assert bus.listener_count() == 2
    history = bus.history()
    assert len(history) == total
    # every (thread, seq) exactly once, and each thread's events in its emit order
    for recorded in (exact.envelopes, wildcard.envelopes, history):
        by_thread: dict[str, list[int]] = {}
        for envelope in recorded:
            by_thread.setdefault(envelope["payload"]["uid"], []).append(int(envelope["payload"]["path"]))
        assert by_thread == {str(i): list(range(per_thread)) for i in range(threads_count)}


# -- the process-wide bus and the core declarations ----------------------------------------------
CORE_EVENTS = {
    "flags.changed": {"name", "enabled", "previous"},
    "settings.changed": {"sections"},
    "on_job_submitted": {"job_id", "kind", "state", "priority"},
    "on_job_started": {"job_id", "kind"},
    "on_job_progress": {"job_id", "kind", "progress", "message"},
    "on_job_finished": {"job_id", "kind", "state", "error", "duration_sec"},
    "on_modder_test": {"message", "data"},
}


def test_core_events_are_declared_with_fields_and_descriptions():
    specs = modder_hooks.specs()
    for name, fields in CORE_EVENTS.items():
        assert name in specs, name
        spec = specs[name]
        assert spec.name == name
        assert set(spec.fields) == fields, name
        assert spec.description
        assert all(spec.fields.values()), f"{name}: every field is described"
        assert spec.owner == "core"
        assert spec.as_dict() == {"name": name, "description": spec.description,
                                  "fields": dict(spec.fields), "owner": "core"}


def test_module_level_functions_use_the_process_wide_bus():
    listener = Recorder()
    stop = modder_hooks.subscribe("on_modder_*", listener)
    envelope = modder_hooks.emit("on_modder_test", {"message": "hi", "data": {"n": 1}})
    assert listener.envelopes == [envelope]
    assert modder_hooks.history() == [envelope]
    assert modder_hooks.history(event="on_job_*") == []
    assert modder_hooks.bus().emitted == 1
    stop()
    modder_hooks.emit("on_modder_test", {"message": "again", "data": None})
    assert len(listener.envelopes) == 1
    with pytest.raises(UndeclaredEvent):
        modder_hooks.emit("on_modder_tset", {"message": "x", "data": None})
    with pytest.raises(PayloadMismatch):
        modder_hooks.emit("on_modder_test", {"message": "x"})


def test_reset_replaces_the_bus_with_fresh_state():
    old = modder_hooks.bus()
    listener = Recorder()
    modder_hooks.subscribe("*", listener)
    modder_hooks.emit("on_modder_test", {"message": "x", "data": None})
    new = modder_hooks.reset(history_size=2)
    assert new is modder_hooks.bus() and new is not old
    assert modder_hooks.history() == []
    for i in range(3):
        modder_hooks.emit("on_modder_test", {"message": str(i), "data": None})
    assert [e["payload"]["message"] for e in modder_hooks.history()] == ["1", "2"]
    assert len(listener.envelopes) == 1  # subscriptions of the old bus are gone


def test_webhook_flag_is_declared_and_off_by_default():
    assert feature_flags.is_enabled("enable_modder_webhooks") is False
    flag = feature_flags.declared()["enable_modder_webhooks"]
    assert flag.default is False and flag.owner == "core"


def test_toggling_a_flag_emits_flags_changed():
    listener = Recorder()
    modder_hooks.subscribe("flags.changed", listener)
    feature_flags.set_enabled("enable_modder_webhooks", True)
    feature_flags.set_enabled("enable_modder_webhooks", False)
    assert [e["payload"] for e in listener.envelopes] == [
        {"name": "enable_modder_webhooks", "enabled": True, "previous": False},
        {"name": "enable_modder_webhooks", "enabled": False, "previous": True},
    ]
