"""The VN Viewer against a real server: a branching scene played through the widgets (advance,
pick a choice by key and by click, go back), save and load a slot, the Export button's job, and
server errors shown in the status line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt

from comfyvn.gui.viewer import ViewerPane
from comfyvn.gui.viewer.playback import Position
from tests.gui.conftest import screenshot

SCENE = {
    "id": "viewer_cafe", "title": "Viewer cafe", "start": "meet",
    "cast": [{"id": "mira", "name": "Mira", "default_expression": "neutral"},
             {"id": "you", "name": "You", "role": "user"}],
    "nodes": [
        {"id": "meet", "type": "choice", "beats": [
            {"kind": "background", "image": "cafe", "time_of_day": "evening"},
            {"kind": "show", "character": "mira", "expression": "joy", "position": "left"},
            {"kind": "say", "id": "m1", "speaker": "mira", "text": "You made it!"},
            {"kind": "narrate", "id": "m2", "text": "The cafe hums quietly around you."}],
         "choices": [{"id": "sit", "label": "Sit down with her", "target": "talk"},
                     {"id": "leave", "label": "Leave", "target": "bye"}]},
        {"id": "talk", "speaker": "mira", "text": "So... about last night.", "expression": "embarrassment",
         "end": True},
        {"id": "bye", "speaker": "you", "text": "Sorry, I have to go.", "end": True},
    ],
}


@pytest.fixture(scope="module")
def seeded(live_server):
    """The scene stored in the default project, with built-in art for its background and Mira."""
    with httpx.Client(base_url=live_server, timeout=60) as client:
        client.post("/api/scenes", params={"project": "default"}, json=SCENE).raise_for_status()
        client.post("/api/render/background", json={"location": "cafe", "time_of_day": "evening",
                                                    "provider": "builtin", "blocking": True}).raise_for_status()
        client.post("/api/render/sprites", json={"character": "mira", "name": "Mira", "provider": "builtin",
                                                 "expressions": ["joy", "embarrassment"],
                                                 "blocking": True}).raise_for_status()
    return live_server


@pytest.fixture
def pane(qtbot, bridge, seeded):
    made = ViewerPane(bridge, project="default")
    qtbot.addWidget(made)
    made.resize(1280, 720)
    made.show()
    made.activateWindow()
    qtbot.waitUntil(lambda: made.position is not None and made.pending == 0, timeout=10000)
    return made


def idle(pane) -> bool:
    return pane.pending == 0


def test_position_shows_lines_and_waits_for_choices():
    frames = [{"index": 0, "kind": "background", "text": None, "stage": {"background": {"image": "x"}}},
              {"index": 1, "kind": "say", "text": "Hi", "speaker": {"id": "a", "name": "A"}, "stage": {"n": 1}},
              {"index": 2, "kind": "narrate", "text": "Quiet.", "speaker": None, "stage": {"n": 2}}]
    answer = {"state": {"node": "a", "step": 3}, "choices": [{"id": "c"}], "finished": False}
    here = Position.at(answer, {"frames": frames, "entry": {}})
    assert here.lines == [1, 2] and here.line() == ("A", "Hi", "say") and not here.waiting_for_choice
    here.pos += 1
    assert here.stage() == {"n": 2} and here.waiting_for_choice and here.key() == (3, 1)
    assert Position.at(answer, {"frames": [], "entry": {"e": 1}}, "last").stage() == {"e": 1}


def test_plays_a_branching_scene_through_the_widgets(qtbot, pane):
    assert pane.scene_id == "viewer_cafe" and pane.scene_box.currentData() == "viewer_cafe"
    assert (pane.dialogue.speaker_label.text(), pane.dialogue.text_label.text()) == ("Mira", "You made it!")
    mira = pane.stage.stage["characters"][0]
    assert (mira["id"], mira["expression"], mira["xalign"]) == ("mira", "joy", 0.3)
    assert pane.stage.stage["background"]["image"] == "cafe"
    assert pane.choices.isHidden()

    qtbot.keyClick(pane.stage, Qt.Key.Key_Space)
    assert pane.dialogue.text_label.text() == "The cafe hums quietly around you."
    assert not pane.choices.isHidden() and [b.text() for b in pane.choices.buttons] == [
        "1. Sit down with her", "2. Leave"]
    # the built-in renderer's art is found and drawn instead of the placeholders
    qtbot.waitUntil(lambda: pane.art.background(pane.stage.stage["background"]) is not None
                    and pane.art.sprite(mira) is not None, timeout=10000)
    assert not pane.art.errors
    pane.stage.repaint()
    screenshot(pane, "viewer")

    qtbot.keyClick(pane.stage, Qt.Key.Key_1)  # pick "Sit down with her"
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "talk", timeout=10000)
    assert pane.dialogue.text_label.text().startswith("So... about last night.")
    assert pane.stage.stage["characters"][0]["expression"] == "embarrassment" and pane.position.finished
    assert pane.backlog.lines() == ["Mira: You made it!", "The cafe hums quietly around you.",
                                    "> Sit down with her", "Mira: So... about last night."]

    qtbot.keyClick(pane.stage, Qt.Key.Key_Backspace)  # back into the menu
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "meet", timeout=10000)
    assert pane.dialogue.text_label.text() == "The cafe hums quietly around you." and not pane.choices.isHidden()
    assert pane.backlog.lines() == ["Mira: You made it!", "The cafe hums quietly around you."]

    qtbot.mouseClick(pane.choices.buttons[1], Qt.MouseButton.LeftButton)  # "Leave", by click
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "bye", timeout=10000)
    assert pane.dialogue.speaker_label.text() == "You" and "The End" in pane.dialogue.text_label.text()
    assert pane.backlog.lines()[-2:] == ["> Leave", "You: Sorry, I have to go."]
    qtbot.keyClick(pane.stage, Qt.Key.Key_Space)
    assert "The end" in pane.status.full_text() and pane.position.node_id == "bye"


def test_save_and_load_a_slot(qtbot, pane):
    qtbot.keyClick(pane.stage, Qt.Key.Key_Space)
    qtbot.keyClick(pane.stage, Qt.Key.Key_2)  # Leave
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "bye", timeout=10000)
    pane.slot_box.setEditText("viewer1")
    qtbot.keyClick(pane.stage, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Saved to slot 'viewer1'" in pane.status.full_text(), timeout=10000)
    qtbot.waitUntil(lambda: pane.slot_box.findText("viewer1") >= 0, timeout=10000)

    qtbot.keyClick(pane.stage, Qt.Key.Key_F5)  # restart: back at the first line
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "meet", timeout=10000)
    assert pane.dialogue.text_label.text() == "You made it!"

    pane.slot_box.setEditText("viewer1")
    qtbot.mouseClick(pane.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "bye", timeout=10000)
    assert "Loaded slot 'viewer1'" in pane.status.full_text() and pane.position.finished
    assert pane.dialogue.text_label.text().startswith("Sorry, I have to go.")
    qtbot.keyClick(pane.stage, Qt.Key.Key_Backspace)  # the loaded run keeps its undo history
    qtbot.waitUntil(lambda: idle(pane) and pane.position.node_id == "meet", timeout=10000)

    pane.slot_box.setEditText("no-such-slot")
    qtbot.mouseClick(pane.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "failed" in pane.status.full_text(), timeout=10000)
    assert "no-such-slot" in pane.status.full_text() and "c0392b" in pane.status.styleSheet()


def test_export_button_runs_the_job_and_offers_to_launch(qtbot, pane, live_server):
    pane.exporter.options = {"lint": False}
    assert not pane.exporter.launch_button.isEnabled()
    qtbot.mouseClick(pane.exporter.export_button, Qt.MouseButton.LeftButton)
    assert not pane.exporter.export_button.isEnabled()  # never blocks: the answer comes later
    qtbot.waitUntil(lambda: pane.exporter.state in ("succeeded", "failed"), timeout=60000)
    assert pane.exporter.state == "succeeded", pane.status.full_text()
    assert pane.exporter.job_id and (Path(pane.exporter.out) / "game").is_dir()
    assert pane.exporter.launch_button.isEnabled() and "Launch it in Ren'Py" in pane.status.full_text()

    qtbot.mouseClick(pane.exporter.launch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.exporter.launched is not None or "Cannot launch" in pane.status.full_text(),
                    timeout=30000)
    if pane.exporter.launched is not None:  # a Ren'Py is installed here: stop the game again
        httpx.post(live_server + "/api/viewer/stop", timeout=30)
    else:  # no Ren'Py: the server's reason is shown, in red
        assert "c0392b" in pane.status.styleSheet()


def test_placeholders_without_art_and_new_art_is_picked_up(qtbot, bridge, seeded):
    from comfyvn.gui.viewer.stage import ArtCache, StageWidget

    art = ArtCache(bridge, "default", lambda: None)
    stage = StageWidget(art)
    qtbot.addWidget(stage)
    stage.resize(960, 540)
    kai = {"id": "kai", "name": "Kai", "expression": "anger", "xalign": 0.7}
    stage.show_stage({"background": {"image": "lighthouse", "time_of_day": "night"},
                      "characters": [kai, {"id": "ghost", "name": "Ghost", "xalign": None}]})
    stage.show()
    qtbot.waitUntil(lambda: art._art.get(("sprite", "kai", "anger"), 0) is None
                    and art._art.get(("background", "lighthouse"), 0) is None, timeout=10000)
    image = stage.grab().toImage()
    body = stage.sprite_rect(kai).center().toPoint()
    assert image.pixelColor(body) != image.pixelColor(20, 300)  # a figure stands there
    assert stage.sprite_rect({"id": "ghost", "xalign": None}) is None  # offscreen: not drawn
    screenshot(stage, "viewer_placeholder")

    httpx.post(seeded + "/api/render/sprites", json={"character": "kai", "name": "Kai", "provider": "builtin",
                                                     "expressions": ["anger"], "blocking": True},
               timeout=60).raise_for_status()
    art.forget_missing()
    qtbot.waitUntil(lambda: art.sprite(kai) is not None, timeout=10000)


LONG_ID = "viewer_" + "long_" * 24  # 127 characters: the longest id the store takes


def test_bottom_bar_labels_never_overlap_and_long_ids_are_elided(qtbot, pane, seeded):
    httpx.post(seeded + "/api/scenes", params={"project": "default"},
               json={**SCENE, "id": LONG_ID, "title": "Long"}).raise_for_status()
    pane.refresh_scenes()
    qtbot.waitUntil(lambda: pane.scene_box.findData(LONG_ID) >= 0 and idle(pane), timeout=10000)
    pane.open_scene(LONG_ID)
    qtbot.waitUntil(lambda: pane.scene_id == LONG_ID and pane.position is not None and idle(pane), timeout=10000)
    assert pane.status.full_text() == "Started"
    for width in (1280, 960, 700):  # alone, and beside the docks of a 1280x720 window
        pane.resize(width, 720)
        qtbot.waitUntil(lambda width=width: pane.width() == max(width, pane.minimumSizeHint().width()), timeout=5000)
        where, status = pane.where.geometry(), pane.status.geometry()
        assert not where.intersects(status), (width, where, status)
        assert where.right() < status.left() and where.width() >= 60, (width, where, status)
        full = pane.where.full_text()
        assert full.endswith(LONG_ID) and pane.where.toolTip() == full
        assert pane.where.text().startswith(f"{pane.position.node_id} / line")  # the node is never cut
        assert pane.where.text() != full and "…" in pane.where.text()  # elided to fit
        assert pane.where.fontMetrics().horizontalAdvance(pane.where.text()) <= where.width()
    assert pane.minimumSizeHint().width() <= 1280  # a long id does not widen the window
    stage_height = pane.stage.height()
    message = "Loading art failed: " + "the server said something long. " * 20
    pane.report(message, error=True)  # a long error stays one line: the bar and the stage keep their size
    qtbot.wait(50)
    assert pane.status.full_text() == message and pane.status.toolTip() == message
    assert pane.status.height() < 2 * pane.status.fontMetrics().height() + 12
    assert pane.stage.height() == stage_height
    screenshot(pane, "viewer_long_id")
    pane.open_scene("viewer_cafe")
    qtbot.waitUntil(lambda: pane.scene_id == "viewer_cafe" and pane.position is not None and idle(pane),
                    timeout=10000)
    assert pane.where.text() == pane.where.full_text()  # a short one shows whole


def test_art_is_decoded_off_the_ui_thread(qtbot, bridge, seeded, monkeypatch):
    import threading

    from comfyvn.gui import images
    from comfyvn.gui.viewer import stage as stage_module

    threads = []
    decode = images.decode_image

    def recording(data):
        threads.append(threading.current_thread())
        return decode(data)

    monkeypatch.setattr(images, "decode_image", recording)
    art = stage_module.ArtCache(bridge, "default", lambda: None)
    mira = {"id": "mira", "name": "Mira", "expression": "joy", "xalign": 0.2}
    assert art.background({"image": "cafe"}) is None and art.sprite(mira) is None  # asked for, not there yet
    qtbot.waitUntil(lambda: art.background({"image": "cafe"}) is not None and art.sprite(mira) is not None,
                    timeout=20000)
    assert len(threads) == 2 and threading.main_thread() not in threads
    assert not art.errors


def test_viewer_drops_answers_after_it_is_deleted(qtbot, bridge, seeded, monkeypatch):
    from tests.gui.test_inspectors_extra import answers_after_deletion

    def make():
        made = ViewerPane(bridge, project="default")  # asks for its scenes and save slots at once
        made.resize(1280, 720)
        made.show()
        qtbot.waitUntil(lambda: made.position is not None and idle(made), timeout=10000)
        made.art.clear()
        made.stage.repaint()  # looks its art up again: lookups and downloads under way
        made.restart()
        made.refresh_slots()
        return made

    assert answers_after_deletion(qtbot, bridge, monkeypatch, make) >= 1


def test_art_asked_for_before_a_project_switch_is_dropped(qtbot, bridge, seeded):
    from comfyvn.gui.viewer import stage as stage_module

    art = stage_module.ArtCache(bridge, "default", lambda: None)
    mira = {"id": "mira", "name": "Mira", "expression": "joy", "xalign": 0.2}
    assert art.sprite(mira) is None  # asked for in "default"...
    art.clear("no-such-project")  # ...then the viewer switched projects before the answer came
    qtbot.wait(1500)
    assert art.sprite(mira) is None and not art.errors  # nothing of "default" arrives, no false 404 report
