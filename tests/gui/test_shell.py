"""The Studio shell: the centre router, the main window's offline banner and retry, job
notifications and the Scripts indicator, and the layout saved to the data folder."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from comfyvn.gui.center_router import CenterRouter
from comfyvn.gui.main_window import MainWindow
from tests.gui.conftest import screenshot


def test_router_makes_panes_on_first_use_and_shows_the_default(qtbot):
    router = CenterRouter()
    qtbot.addWidget(router)
    made = []
    router.register("viewer", lambda: made.append("viewer") or QLabel("viewer"), title="VN Viewer")
    router.register("designer", lambda: made.append("designer") or QLabel("designer"))
    with pytest.raises(KeyError, match="no default pane"):
        router.show_pane()
    router.set_default("viewer")
    assert router.show_pane().text() == "viewer" and made == ["viewer"]
    router.show_pane("designer")
    router.show_pane("viewer")
    assert made == ["viewer", "designer"] and router.current == "viewer"
    with pytest.raises(KeyError, match="no pane named 'nope'"):
        router.show_pane("nope")


def test_window_follows_the_server_and_its_jobs(qtbot, bridge, tmp_path):
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.add_pane("welcome", lambda: QLabel("hello"), title="Welcome", default=True)
    window.router.show_pane()
    window.show()
    qtbot.waitUntil(lambda: "online" in window.server_state.text(), timeout=5000)
    assert window.banner.isHidden()
    bridge.event.emit("on_job_started", {"job_id": "j1", "kind": "render.sprites"})
    assert window.progress.isVisible()
    bridge.event.emit("on_job_finished", {"job_id": "j1", "kind": "render.sprites", "state": "failed",
                                          "error": "the GPU caught fire"})
    assert not window.progress.isVisible()
    assert window.notifications[-1] == ("Job failed", "render.sprites: the GPU caught fire")
    assert window.scripts.last_error == "render.sprites failed: the GPU caught fire"
    bridge.online_changed.emit(False, "cannot reach the server")
    assert window.banner.isVisible() and "cannot reach the server" in window.banner_text.text()
    screenshot(window, "shell_offline")
    saved = window.save_layout(tmp_path / "layout.json")
    fresh = MainWindow(bridge)
    qtbot.addWidget(fresh)
    fresh.add_pane("welcome", lambda: QLabel("hello"), title="Welcome", default=True)
    assert fresh.restore_layout(saved) and fresh.router.current == "welcome"
    assert not fresh.restore_layout(tmp_path / "missing.json")


def test_the_installed_qt_binding_keeps_its_references(qtbot):
    """PySide6 6.12.0 dropped a reference to None on every call returning nothing, so a long session
    ended in "Fatal Python error: none_dealloc"; pyproject excludes it, and this guards the next one."""
    import sys

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert abs(sys.getrefcount(None) - before) < 50


def test_tray_icon_notifies_finished_and_failed_jobs(qtbot, bridge, monkeypatch):
    from PySide6.QtWidgets import QSystemTrayIcon

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    assert window.tray is not None and not window.tray.icon().isNull() and not window.windowIcon().isNull()
    assert [a.text() for a in window.tray.contextMenu().actions()] == ["Show the Studio", "Quit"]
    shown = []
    window.tray.isVisible = lambda: True  # the offscreen platform has no tray to show it in
    window.tray.showMessage = lambda title, text, icon, ms: shown.append((title, text, icon))
    bridge.event.emit("on_job_finished", {"job_id": "j2", "kind": "export.renpy", "state": "succeeded"})
    bridge.event.emit("on_job_finished", {"job_id": "j3", "kind": "render.sprites", "state": "failed",
                                          "error": "out of memory"})
    assert shown == [("Job finished", "export.renpy", QSystemTrayIcon.MessageIcon.Information),
                     ("Job failed", "render.sprites: out of memory", QSystemTrayIcon.MessageIcon.Warning)]


def test_progress_forgets_jobs_that_finished_while_offline(qtbot, bridge):
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "online" in window.server_state.text(), timeout=5000)
    bridge.online_changed.emit(False, "connection lost")
    bridge.event.emit("on_job_started", {"job_id": "lost-job", "kind": "render.sprites"})
    assert window.progress.isVisible()  # its on_job_finished never comes: it ended while we were offline
    bridge.online_changed.emit(True, bridge.base_url)  # back: the server's running jobs are read again
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=5000)
    assert "lost-job" not in window._running


def test_a_job_that_ends_before_the_poll_answer_is_not_added_back(qtbot, bridge):
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    known, ended = set(window._running), window._ended_total  # what a poll asked when sent
    bridge.event.emit("on_job_started", {"job_id": "quick", "kind": "render.sprites"})
    bridge.event.emit("on_job_finished", {"job_id": "quick", "kind": "render.sprites", "state": "succeeded"})
    window._running_jobs({"jobs": [{"id": "quick", "progress": 0.5}]}, known, ended)  # an older answer
    assert "quick" not in window._running and not window.progress.isVisible()
