"""The whole Studio window as the launcher opens it: every panel and pane registered, the default
pane the VN Viewer, the Character Designer one shortcut away; a screenshot for review."""

from __future__ import annotations

from comfyvn.gui.app import build_window, panels
from tests.gui.conftest import screenshot


def test_the_studio_opens_with_every_panel(qtbot, bridge, tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_DATA_DIR", str(tmp_path))  # the saved layout goes here
    window = build_window(bridge)
    qtbot.addWidget(window)
    window.show()
    window.resize(1280, 720)
    assert window.router.current == "viewer" and window.router.default == "viewer"
    assert set(window.docks) == {p.name for p in panels()} | {"runner"}
    assert {"viewer", "designer", "timeline"} <= set(window.router.names())
    window.router.show_pane("designer")
    assert window.router.current == "designer"
    window.router.show_pane()
    qtbot.waitUntil(lambda: "online" in window.server_state.text(), timeout=5000)
    screenshot(window, "studio")
    assert window.width() <= 1280 and window.height() <= 720  # readable on a 1280x720 screen
    window.close()


def test_a_panel_in_a_hidden_dock_tab_does_not_poll(qtbot, bridge, tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_DATA_DIR", str(tmp_path))
    window = build_window(bridge)
    qtbot.addWidget(window)
    window.show()
    window.resize(1280, 720)
    board = window.docks["scheduler"].widget()  # tabbed behind the Task Manager
    polls: list[int] = []
    board.refresh = lambda: polls.append(1)
    board.timer.setInterval(20)
    board.timer.start()
    qtbot.wait(300)
    assert polls == [] and board.isVisible()  # Qt calls it visible; nothing of it is on screen
    window.docks["scheduler"].raise_()
    qtbot.waitUntil(lambda: len(polls) > 2, timeout=5000)
    window.close()
