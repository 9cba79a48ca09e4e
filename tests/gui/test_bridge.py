"""ServerBridge against a real server: REST answers and error envelopes on the UI thread, hook-bus
events over the one WebSocket, and a clear offline state when nothing listens."""

from __future__ import annotations

import threading

from comfyvn.gui.bridge import BridgeError, ServerBridge


def test_calls_answer_on_the_ui_thread(qtbot, bridge):
    got = {}
    main = threading.current_thread()

    def done(value):
        got["value"], got["thread"] = value, threading.current_thread()

    bridge.get("/status", on_done=done)
    qtbot.waitUntil(lambda: "value" in got, timeout=5000)
    assert got["thread"] is main and got["value"]["status"] == "ok"


def test_errors_carry_the_envelope(qtbot, bridge):
    errors = []
    bridge.get("/api/projects/no-such-project", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], BridgeError) and errors[0].status == 404 and "no-such-project" in errors[0].message


def test_hook_events_arrive_over_the_socket(qtbot, bridge):
    seen = []
    bridge.event.connect(lambda name, payload: seen.append((name, payload)))
    bridge.post("/api/modder/hooks/test", {})
    qtbot.waitUntil(lambda: any(name == "on_modder_test" for name, _ in seen), timeout=5000)


def test_offline_server_is_reported_and_calls_fail_fast(qtbot):
    from comfyvn.config.baseurl_authority import find_open_port

    port = find_open_port("127.0.0.1", 0)  # nothing listens here
    offline = ServerBridge(f"http://127.0.0.1:{port}")
    states = []
    offline.online_changed.connect(lambda online, detail: states.append((online, detail)))
    offline.start()
    try:
        qtbot.waitUntil(lambda: bool(states), timeout=10000)
        assert states[0][0] is False and str(port) in states[0][1]
        errors = []
        offline.get("/status", on_error=errors.append)
        qtbot.waitUntil(lambda: bool(errors), timeout=10000)
        assert "cannot be reached" in errors[0].message
    finally:
        offline.stop()


def test_answers_for_a_deleted_widget_are_dropped(qtbot, bridge):
    from PySide6.QtWidgets import QLabel
    from shiboken6 import delete

    got, kept = [], []
    gone = QLabel()
    bridge.get("/status", on_done=lambda value: got.append(value), owner=gone)
    delete(gone)  # closed before the answer came
    bridge.get("/status", on_done=kept.append)
    qtbot.waitUntil(lambda: bool(kept), timeout=5000)
    qtbot.wait(100)
    assert got == []


def test_a_call_that_times_out_on_a_busy_server_does_not_make_the_studio_offline(qtbot, live_server, monkeypatch):
    import socket

    from comfyvn.gui import bridge as bridge_module

    hang = socket.socket()  # accepts connections, never answers: a ComfyUI candidate that hangs
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    monkeypatch.setattr(bridge_module, "TIMEOUT", 0.5)
    busy = ServerBridge(live_server)
    states = []
    busy.online_changed.connect(lambda online, detail: states.append(online))
    busy.start()
    try:
        qtbot.waitUntil(lambda: busy.online, timeout=10000)
        errors = []
        busy.post("/api/providers/discover", {"hosts": ["127.0.0.1"], "ports": [hang.getsockname()[1]],
                                              "timeout": 3}, on_error=errors.append)  # takes ~3 s > 0.5 s
        qtbot.waitUntil(lambda: bool(errors), timeout=10000)
        assert "did not answer" in errors[0].message and busy.online and False not in states

        busy._set_online(False, "a broken connection")  # what a connection reset mid-call reports
        answers = []
        busy.get("/status", on_done=answers.append)
        qtbot.waitUntil(lambda: bool(answers) and busy.online, timeout=10000)  # an answer brings it back
    finally:
        busy.stop()
        hang.close()


def test_uploads_given_as_paths_are_read_by_the_bridge(qtbot, bridge, tmp_path):
    from pathlib import Path

    chat = Path(__file__).resolve().parents[2] / "examples" / "lantern_cafe_chat.jsonl"
    answers, errors = [], []
    bridge.call("POST", "/roleplay/import", files={"file": chat}, data={"dry_run": "true"}, on_done=answers.append)
    bridge.call("POST", "/roleplay/import", files={"file": tmp_path / "gone.jsonl"}, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers) and bool(errors), timeout=10000)
    assert answers[0]["dry_run"] is True and answers[0]["participants"]
    assert "cannot open" in errors[0].message and "gone.jsonl" in errors[0].message
