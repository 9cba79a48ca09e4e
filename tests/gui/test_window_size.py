"""The Studio window stays within a 1280x720 screen whatever panel or pane is open: each panel's
and pane's minimum size is small (their content scrolls), so opening one never grows the window,
and the Asset Gallery, the Log Hub and Settings open together stay usable."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from comfyvn.gui.app import build_window
from tests.gui.conftest import screenshot

WIDTH, HEIGHT = 1280, 720


@pytest.fixture
def window(qtbot, bridge, tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYVN_DATA_DIR", str(tmp_path))  # the saved layout goes here
    made = build_window(bridge)
    qtbot.addWidget(made)
    made.show()
    made.resize(WIDTH, HEIGHT)
    yield made
    for dock in made.docks.values():  # no polling timers left behind
        dock.widget().hide()
    made.docks["logs"].widget().detach()
    made.close()


def _fits(qtbot, window, what: str) -> None:
    QApplication.processEvents()  # the dock layout takes the change in
    hint = window.minimumSizeHint()
    assert hint.width() <= WIDTH and hint.height() <= HEIGHT, \
        f"with {what} open the window needs at least {hint.width()}x{hint.height()}"
    window.resize(WIDTH, HEIGHT)
    qtbot.waitUntil(lambda: window.width() <= WIDTH and window.height() <= HEIGHT, timeout=5000)


def _open_dock(qtbot, window, name: str) -> None:
    dock = window.docks[name]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: dock.isVisible() and not dock.widget().visibleRegion().isEmpty(), timeout=5000)


def test_every_dock_and_pane_alone_fits_1280x720(qtbot, window):
    _fits(qtbot, window, "the default layout")
    for name, dock in window.docks.items():
        shown = dock.isVisible()
        _open_dock(qtbot, window, name)
        _fits(qtbot, window, f"the {dock.windowTitle()} dock")
        if not shown:
            dock.hide()
    for pane in ("viewer", "designer", "timeline"):
        window.router.show_pane(pane)
        qtbot.waitUntil(lambda: window.router.currentWidget().isVisible(), timeout=5000)
        _fits(qtbot, window, f"the {window.router.title(pane)} pane")


def test_gallery_log_hub_and_settings_together_fit_and_stay_usable(qtbot, window, live_server):
    for index, colour in enumerate(("#c0392b", "#2980b9")):  # something for the gallery to show
        picture = io.BytesIO()
        Image.new("RGB", (64, 64), colour).save(picture, format="PNG")
        answer = httpx.post(f"{live_server}/assets/upload", data={"project": "default", "type": "background"},
                            files={"file": (f"fit{index}.png", picture.getvalue(), "image/png")})
        assert answer.status_code in (200, 201), answer.text
    for name in ("logs", "assets", "settings"):
        _open_dock(qtbot, window, name)
    _fits(qtbot, window, "the Asset Gallery, the Log Hub and Settings")
    gallery, settings = window.docks["assets"].widget(), window.docks["settings"].widget()
    gallery.refresh()
    qtbot.waitUntil(lambda: gallery.loaded_thumbnails >= 2 and settings.host_edit.text() != "", timeout=10000)
    screenshot(window, "window_all_docks")
    assert gallery.grid.height() >= 120 and gallery.apply_button.isVisible(), "the gallery is squashed"
    assert settings.tabs.width() >= 250 and settings.host_edit.width() >= 100, "Settings is squashed"
    window.docks["logs"].raise_()
    logs = window.docks["logs"].widget()
    qtbot.waitUntil(lambda: not logs.visibleRegion().isEmpty(), timeout=5000)
    assert logs.view.height() >= 120 and logs.filter.width() >= 120, "the Log Hub is squashed"
