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
