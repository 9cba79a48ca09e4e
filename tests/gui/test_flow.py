"""A person who never opens a terminal: from a SillyTavern chat to a playable game, through the Studio's
widgets only. File > Import Roleplay, pick the chat, see the preview, import with swipes as choices,
open the scene in the VN Viewer, play it through a choice, export it (with Ren'Py's lint where
Ren'Py is installed) and get the offer to launch it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt

from comfyvn.export import renpy_tool
from comfyvn.gui.app import build_window
from comfyvn.gui.dialogs.import_roleplay import ImportRoleplayDialog
from tests.gui.conftest import screenshot

CHAT = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sillytavern" / "synthetic" / \
    "Seraphina - 2024-09-28@01h00m07s.jsonl"
WAIT = 30000


@pytest.mark.slow
def test_chat_to_a_linted_game_through_the_widgets(qtbot, bridge, live_server, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    if not CHAT.exists():
        pytest.skip("the shared fixtures are not beside the repository")
    monkeypatch.setenv("COMFYVN_DATA_DIR", str(tmp_path / "data"))  # the saved layout goes here
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (str(CHAT), "")))
    window = build_window(bridge)
    qtbot.addWidget(window)
    window.show()
    window.resize(1280, 720)  # what the launcher opens on a first run
    window.activateWindow()
    viewer = window.router.show_pane()
    qtbot.waitUntil(lambda: "no scenes yet" in viewer.status.full_text(), timeout=WAIT)

    # File > Import Roleplay (Ctrl+I): pick the chat, the preview shows, nothing is stored yet
    next(a for a in window.menuBar().actions()[0].menu().actions() if a.text().startswith("Import")).trigger()
    dialog = window.findChild(ImportRoleplayDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.mouseClick(dialog.file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("Error", "Preview (")), timeout=WAIT)
    assert dialog.status.text().startswith("Preview ("), dialog.status.text()
    assert httpx.get(f"{live_server}/api/scenes").json()["items"] == []
    dialog.swipes_check.setChecked(True)  # the chat's swipes become choices: a branching scene
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Preview (") and dialog.preview.get("dry_run")
                    and dialog.preview.get("swipes_as_choices", True), timeout=WAIT)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled() or dialog.status.text().startswith("Error"), timeout=WAIT)
    assert dialog.open_button.isEnabled(), dialog.status.text()
    scene = dialog.scenes.item(0).text()
    scenes = window.docks["scenes"].widget()  # the Scenes inspector follows the import's events
    qtbot.waitUntil(lambda: scenes.row(scene) is not None, timeout=WAIT)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)

    # the VN Viewer plays it: lines, then a choice between the swipes, then on to the end
    qtbot.waitUntil(lambda: viewer.scene_id == scene and viewer.position is not None and viewer.pending == 0,
                    timeout=WAIT)
    assert window.router.current == "viewer"
    window.activateWindow()
    viewer.stage.setFocus()  # the dialog had the focus
    choices_made = 0
    for _ in range(200):
        if viewer.position.finished and viewer.position.pos >= len(viewer.position.lines) - 1:
            break
        if not viewer.choices.isHidden():
            buttons = viewer.choices.buttons
            qtbot.mouseClick(buttons[-1], Qt.MouseButton.LeftButton)  # an alternative swipe
            choices_made += 1
        else:
            qtbot.keyClick(viewer.stage, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda: viewer.pending == 0, timeout=WAIT)
    assert viewer.position.finished, viewer.status.full_text()
    assert choices_made >= 1 and any(line.startswith("> ") for line in viewer.backlog.lines())
    screenshot(window, "flow_viewer")
    assert window.minimumSizeHint().width() <= 1280 and window.width() <= 1280  # long ids do not widen it

    # Export: a job, followed live; lint by Ren'Py where it is installed; then the offer to launch
    lint = renpy_tool.find_renpy() is not None
    viewer.exporter.options = {"lint": lint, "out": str(tmp_path / "game")}
    qtbot.mouseClick(viewer.exporter.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: viewer.exporter.state in ("succeeded", "failed"), timeout=240000)
    assert viewer.exporter.state == "succeeded", viewer.status.full_text()
    job = httpx.get(f"{live_server}/jobs/{viewer.exporter.job_id}").json()["job"]
    result = job["result"]
    assert (tmp_path / "game" / "game" / "script.rpy").is_file()
    if lint:
        assert result["lint"]["ok"], result["lint"]
    assert viewer.exporter.launch_button.isEnabled() and "Launch it in Ren'Py" in viewer.status.full_text()
    assert any(title == "Job finished" for title, _ in window.notifications)
    window.close()
