"""Timeline Workshop and Scenario Runner dock, driven through their widgets against a real server:
load a branching scene, add and link a node, edit text inline, save and reload; an invalid edit
shows its error on the node; the runner steps, goes back and stops at a breakpoint."""

from __future__ import annotations

import httpx
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QSplitter

from comfyvn.gui.timeline import RunnerDock, WorkshopPane
from comfyvn.gui.timeline.items import HEADER, HEIGHT, WIDTH
from tests.gui.conftest import screenshot


def branching(scene_id: str) -> dict:
    return {
        "id": scene_id, "title": "A meeting at the cafe", "start": "arrive",
        "variables": {"trust": 0, "ordered": False},
        "cast": [{"id": "mira", "name": "Mira"}, {"id": "you", "name": "You", "role": "user"}],
        "nodes": [
            {"id": "arrive", "speaker": "mira", "text": "You made it!", "type": "choice",
             "choices": [{"id": "sit", "label": "Sit down with her", "target": "talk",
                          "actions": [{"type": "increment", "key": "trust"}]},
                         {"id": "order", "label": "Order first", "target": "counter"}]},
            {"id": "counter", "text": "The barista nods.",
             "actions": [{"type": "set", "key": "ordered", "value": True}], "next": "talk"},
            {"id": "talk", "speaker": "mira", "text": "So... about last night.", "next": "bye"},
            {"id": "bye", "text": "The end.", "end": True},
        ],
    }


@pytest.fixture
def seed_scene(live_server):
    def seed(scene_id: str) -> dict:
        response = httpx.post(f"{live_server}/api/scenes", json=branching(scene_id))
        assert response.status_code == 201, response.text
        return response.json()
    return seed


def open_pane(qtbot, bridge, scene_id: str) -> WorkshopPane:
    pane = WorkshopPane(bridge)
    qtbot.addWidget(pane)
    pane.resize(1280, 720)
    pane.show()
    qtbot.waitUntil(lambda: pane.picker.findData(scene_id) >= 0, timeout=5000)
    index = pane.picker.findData(scene_id)
    pane.picker.setCurrentIndex(index)
    pane.picker.activated.emit(index)  # what choosing it in the list does
    qtbot.waitUntil(lambda: pane.scene_id == scene_id and len(pane.canvas.nodes) == 4, timeout=5000)
    qtbot.waitUntil(lambda: "Valid" in pane.status.text(), timeout=5000)
    return pane


def at(pane: WorkshopPane, node_id: str, x: float, y: float) -> QPoint:
    """The viewport point over (x, y) of a node's box."""
    item = pane.canvas.nodes[node_id]
    return pane.view.mapFromScene(item.pos() + QPointF(x, y))


def click(qtbot, pane, node_id, x=WIDTH / 2, y=HEIGHT - 12, **kwargs) -> None:
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=at(pane, node_id, x, y), **kwargs)


def test_add_link_edit_save_and_reload(qtbot, bridge, seed_scene, live_server):
    seed_scene("cafe_edit")
    pane = open_pane(qtbot, bridge, "cafe_edit")
    assert pane.canvas.nodes["arrive"].pos().x() < pane.canvas.nodes["talk"].pos().x()  # BFS layers
    assert sorted(e.label for e in pane.canvas.edge_items if e.choice) == ["Order first", "Sit down with her"]

    click(qtbot, pane, "counter")
    qtbot.keyClick(pane.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # add a node
    qtbot.waitUntil(lambda: "node_1" in pane.canvas.nodes, timeout=3000)
    pane.view.fit()

    # drag a link from arrive's port to the new node: arrive (a choice node) gains a choice
    viewport = pane.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(pane, "arrive", WIDTH, HEIGHT / 2))
    qtbot.mouseMove(viewport, at(pane, "node_1", WIDTH / 2, HEIGHT / 2))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(pane, "node_1", WIDTH / 2, HEIGHT / 2))
    qtbot.waitUntil(lambda: any(e.source.node_id == "arrive" and e.target.node_id == "node_1"
                                for e in pane.canvas.edge_items), timeout=3000)

    # the Link action: select the new node, press L, click the target; node_1 gets a next
    click(qtbot, pane, "node_1")
    qtbot.keyClick(pane.view, Qt.Key.Key_L)
    click(qtbot, pane, "talk")
    qtbot.waitUntil(lambda: pane.canvas.nodes["node_1"].node.get("next") == "talk", timeout=3000)

    # inline text editing: double-click the body, type, Enter
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=at(pane, "node_1", WIDTH / 2, HEADER + 20))
    qtbot.waitUntil(lambda: pane.view.editor is not None and pane.view.editor.isVisible(), timeout=3000)
    editor = pane.view.editor
    editor.selectAll()
    qtbot.keyClicks(editor, "A new line, typed inline.")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert pane.canvas.nodes["node_1"].node["text"] == "A new line, typed inline."
    qtbot.waitUntil(lambda: "Unsaved changes. Valid" in pane.status.text(), timeout=5000)
    screenshot(pane, "timeline_workshop")

    qtbot.keyClick(pane.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Saved cafe_edit" in pane.status.text(), timeout=5000)
    assert not pane.dirty
    stored = httpx.get(f"{live_server}/api/scenes/cafe_edit").json()["data"]
    new = next(n for n in stored["nodes"] if n["id"] == "node_1")
    assert new["text"] == "A new line, typed inline." and new["next"] == "talk"
    assert "node_1" in [c["target"] for c in next(n for n in stored["nodes"] if n["id"] == "arrive")["choices"]]

    # reload (Ctrl+R) and see the change
    pane.canvas.nodes["node_1"].node["text"] = "scribbled locally"
    qtbot.keyClick(pane.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(pane.canvas.nodes) == 5 and
                    pane.canvas.nodes["node_1"].node.get("text") == "A new line, typed inline.", timeout=5000)


def test_invalid_edit_shows_its_error_on_the_node_and_refuses_the_save(qtbot, bridge, seed_scene):
    seed_scene("cafe_invalid")
    pane = open_pane(qtbot, bridge, "cafe_invalid")
    viewport = pane.view.viewport()
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=at(pane, "counter", 30, HEADER / 2))  # the id
    qtbot.waitUntil(lambda: pane.view.editor is not None and pane.view.editor.isVisible(), timeout=3000)
    pane.view.editor.selectAll()
    qtbot.keyClicks(pane.view.editor, "bad id!")
    qtbot.keyClick(pane.view.editor, Qt.Key.Key_Return)
    assert pane.canvas.nodes["bad id!"].node is pane.document["nodes"][1]
    assert pane.document["nodes"][0]["choices"][1]["target"] == "bad id!"  # refs follow
    qtbot.waitUntil(lambda: bool(pane.canvas.nodes["bad id!"].errors), timeout=5000)
    assert pane.canvas.nodes["bad id!"].errors[0].startswith("id:")
    errors = pane.node_errors()  # the node, and the choice that names it by its bad id
    assert set(errors) == {"bad id!", "arrive"} and errors["arrive"][0].startswith("choices/1/target:"), errors
    assert "error" in pane.status.text()
    assert "bad id!" in pane.canvas.nodes["bad id!"].toolTip() and "Errors:" in pane.canvas.nodes["bad id!"].toolTip()
    screenshot(pane, "timeline_invalid")
    pane.save()
    qtbot.waitUntil(lambda: "Not saved" in pane.status.text(), timeout=5000)
    assert pane.dirty and pane.canvas.nodes["bad id!"].errors


def test_runner_steps_goes_back_and_stops_at_a_breakpoint(qtbot, bridge, seed_scene):
    seed_scene("cafe_run")
    pane = WorkshopPane(bridge)
    dock = RunnerDock(bridge, pane)
    both = QSplitter()
    both.addWidget(pane)
    both.addWidget(dock)
    both.setSizes([900, 380])
    qtbot.addWidget(both)
    both.resize(1280, 720)
    both.show()
    qtbot.waitUntil(lambda: pane.picker.findData("cafe_run") >= 0, timeout=5000)
    pane.load_scene("cafe_run")
    qtbot.waitUntil(lambda: pane.scene_id == "cafe_run" and dock.pov.count() == 3, timeout=5000)

    qtbot.mouseClick(_button(dock, "Step"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.state is not None, timeout=5000)
    assert pane.current == "arrive" and pane.canvas.nodes["arrive"].current
    assert "You made it!" in dock.lines.text() and dock.choices.count() == 3  # random + two choices

    dock.choices.setCurrentRow(2)  # "Order first"
    dock.step()
    qtbot.waitUntil(lambda: pane.current == "counter", timeout=5000)
    assert not pane.canvas.nodes["arrive"].current and pane.canvas.nodes["counter"].current
    assert '"ordered": true' in dock.vars_view.toPlainText()

    qtbot.mouseClick(_button(dock, "Back"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.current == "arrive", timeout=5000)
    assert dock.state["step"] == 0

    click(qtbot, pane, "bye")
    qtbot.keyClick(pane.view, Qt.Key.Key_F9)
    assert pane.breakpoints == {"bye"} and [dock.breakpoint_list.item(0).text()] == ["bye"]
    dock.overrides.setText("sit")
    qtbot.mouseClick(_button(dock, "Run"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.current == "bye", timeout=5000)
    assert "stopped: breakpoint" in dock.where.text()
    assert [t["node"] for t in dock.state["trace"]] == ["arrive", "talk", "bye"]
    assert '"trust": 1' in dock.vars_view.toPlainText()
    screenshot(both, "timeline_runner")

    dock.variables.setPlainText("{not json")
    dock.restart()
    dock.step()
    assert "not valid JSON" in dock.status.text() and dock.state is None


def _button(dock: RunnerDock, text: str):
    from PySide6.QtWidgets import QToolButton

    return next(b for b in dock.findChildren(QToolButton) if b.text() == text)


def test_graph_editing_layout_and_error_mapping():
    from comfyvn.gui.timeline import graph

    scene = branching("plain")
    positions = graph.layout(scene)
    assert positions["arrive"][0] == 0 and positions["talk"][0] == positions["counter"][0] > 0
    assert positions["bye"][0] > positions["talk"][0]
    per_node, general = graph.errors_by_node(
        [{"path": "/nodes/1/next", "message": "unknown"}, {"path": "/start", "message": "missing"}],
        [n["id"] for n in scene["nodes"]])
    assert per_node == {"counter": ["next: unknown"]} and general == ["/start: missing"]
    assert graph.link(scene, "counter", "bye") == "counter_to_bye_1"
    counter = graph.find(scene, "counter")
    assert counter["type"] == "choice" and "next" not in counter
    assert [c["target"] for c in counter["choices"]] == ["talk", "bye"]
    with pytest.raises(ValueError, match="end node"):
        graph.link(scene, "bye", "arrive")
    graph.delete_node(scene, "talk")
    assert all(c["target"] != "talk" for n in scene["nodes"] for c in n.get("choices") or [])


def test_a_thousand_node_graph_opens_with_every_node_and_edge(qtbot):
    from benchmarks.storygen import generate, scene_json
    from comfyvn.gui.timeline.canvas import GraphScene, GraphView

    document = scene_json(generate(1000, seed=3), scene_id="big")
    canvas = GraphScene()
    view = GraphView(canvas)
    qtbot.addWidget(view)
    view.resize(1280, 720)
    canvas.load(document)
    view.show()
    view.fit()
    assert len(canvas.nodes) == 1000
    assert len(canvas.edge_items) == sum(len(n.get("choices") or []) for n in document["nodes"])
    assert canvas.overview_mode and canvas.overview.isVisible()  # far zoomed out: one item of lines
    view.set_zoom(1.0)
    assert not canvas.overview_mode and canvas.edge_items[0].isVisible()


def test_unsaved_changes_are_saved_discarded_or_kept_before_a_switch_or_close(qtbot, bridge, seed_scene, live_server):
    from comfyvn.gui.main_window import MainWindow

    seed_scene("cafe_guard")
    seed_scene("cafe_other")
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    window.add_pane("timeline", lambda: WorkshopPane(bridge), title="Timeline", default=True)
    pane = window.router.show_pane()
    window.show()
    qtbot.waitUntil(lambda: pane.picker.findData("cafe_other") >= 0, timeout=5000)
    pane.load_scene("cafe_guard")
    qtbot.waitUntil(lambda: pane.scene_id == "cafe_guard" and "Valid" in pane.status.text(), timeout=5000)
    answers: list[str] = []
    pane.guard.ask = lambda: answers.pop(0)

    pane.add_node()
    assert pane.dirty
    answers.append("cancel")  # Cancel: the switch does not happen, the edit stays, the picker shows this scene
    other = pane.picker.findData("cafe_other")
    pane.picker.setCurrentIndex(other)
    pane.picker.activated.emit(other)
    assert pane.scene_id == "cafe_guard" and pane.dirty and pane.picker.currentData() == "cafe_guard"
    answers.append("cancel")  # closing the Studio asks too
    window.close()
    assert window.isVisible() and pane.dirty

    answers.append("save")  # Save: stored first, then the switch goes on
    pane.picker.setCurrentIndex(other)
    pane.picker.activated.emit(other)
    qtbot.waitUntil(lambda: pane.scene_id == "cafe_other", timeout=5000)
    stored = httpx.get(f"{live_server}/api/scenes/cafe_guard").json()["data"]
    assert len(stored["nodes"]) == 5

    pane.add_node()
    answers.append("discard")  # Discard: the reload (Ctrl+R) drops the edit
    qtbot.keyClick(pane.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not pane.dirty and len(pane.canvas.nodes) == 4, timeout=5000)
    assert len(httpx.get(f"{live_server}/api/scenes/cafe_other").json()["data"]["nodes"]) == 4
    assert not answers
    window.close()
    assert not window.isVisible()


def test_workshop_drops_answers_after_it_is_deleted(qtbot, bridge, seed_scene, monkeypatch):
    from tests.gui.test_inspectors_extra import answers_after_deletion

    seed_scene("deleted_soon")

    def make():
        pane = WorkshopPane(bridge)  # not qtbot.addWidget: it is deleted here, not at teardown
        pane.show()
        qtbot.waitUntil(lambda: pane.picker.findData("deleted_soon") >= 0, timeout=5000)
        pane.load_scene("deleted_soon")
        qtbot.waitUntil(lambda: pane.scene_id == "deleted_soon" and "Valid" in pane.status.text(), timeout=5000)
        pane.refresh_scenes()
        pane.reload()  # load, then validate: each answer asks again
        pane.validate()
        pane.save()
        return pane

    assert answers_after_deletion(qtbot, bridge, monkeypatch, make) >= 1
