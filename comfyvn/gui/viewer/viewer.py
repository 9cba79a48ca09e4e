"""The VN Viewer pane: plays a stored scene with the server's runner and shows it as the game
would: the presentation plan's stage (background, sprites with expressions at their positions),
the dialogue box, choice buttons, a backlog, save/load slots, and Export -> launch in Ren'Py.

Keys: Space/Enter advance, 1-9 pick a choice, Backspace back, Ctrl+S save, Ctrl+L load,
Ctrl+E export, Ctrl+R launch the export, F5 restart the scene."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.viewer.dialogue import Backlog, ChoiceMenu, DialogueBox
from comfyvn.gui.viewer.export import ExportControl
from comfyvn.gui.viewer.labels import ElidedLabel
from comfyvn.gui.viewer.playback import CHOICE_POS, Position
from comfyvn.gui.viewer.stage import ArtCache, StageWidget


class ViewerPane(QWidget):
    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project = bridge, project
        self.seed: int | str = 0
        self.scene_id: str | None = None
        self.plan: dict[str, dict[str, Any]] = {}  # node id -> the plan's node
        self.position: Position | None = None
        self.pending = 0  # requests in flight (tests wait for 0)
        self._ticket = 0  # answers for an older scene are dropped
        self.art = ArtCache(bridge, project, self._art_arrived, self.report, parent=self)
        self._build()
        self._keys()
        bridge.event.connect(self._on_event)
        self.refresh_scenes()
        self.refresh_slots()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        top = QHBoxLayout()
        self.scene_box = QComboBox()
        self.scene_box.setMinimumWidth(140)
        self.scene_box.setToolTip("The scene to play")
        self.scene_box.activated.connect(lambda _: self.open_scene(self.scene_box.currentData()))
        reload_button = QPushButton("Reload")
        reload_button.setToolTip("Reload the project's scene list")
        reload_button.clicked.connect(self.refresh_scenes)
        self.restart_button = QPushButton("Restart")
        self.restart_button.setToolTip("Play the scene from its start (F5)")
        self.restart_button.clicked.connect(self.restart)
        self.slot_box = QComboBox()
        self.slot_box.setEditable(True)
        self.slot_box.setMinimumWidth(100)
        self.slot_box.setEditText("slot1")
        self.slot_box.setToolTip("A save slot: pick one or type a new name")
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the run to the slot (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Resume the run saved in the slot (Ctrl+L)")
        self.load_button.clicked.connect(self.load)
        self.exporter = ExportControl(self.bridge, self.project, self.report)
        for widget in (QLabel("Scene:"), self.scene_box, reload_button, self.restart_button):
            top.addWidget(widget)
        top.addSpacing(16)
        for widget in (QLabel("Slot:"), self.slot_box, self.save_button, self.load_button):
            top.addWidget(widget)
        top.addStretch(1)

        self.stage = StageWidget(self.art)
        self.dialogue = DialogueBox(self.stage)
        self.choices = ChoiceMenu(self.pick, self.stage)
        self.stage.resized.connect(self._place_overlays)
        self.backlog = Backlog()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.stage)
        split.addWidget(self.backlog)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([960, 260])

        bottom = QHBoxLayout()
        self.back_button = QPushButton("< Back")
        self.back_button.setToolTip("Go back one line (Backspace)")
        self.back_button.clicked.connect(self.back)
        self.advance_button = QPushButton("Advance >")
        self.advance_button.setToolTip("Next line (Space or Enter)")
        self.advance_button.clicked.connect(self.advance)
        self.where = ElidedLabel(minimum=60, maximum=280, mode=Qt.TextElideMode.ElideRight)  # a long scene id is elided, never widens the window
        self.where.setStyleSheet("color: #7f8c8d;")
        # one line, cut at the right (the whole message in the tooltip): a long error must not grow the bar
        self.status = ElidedLabel(minimum=80, maximum=16777215, mode=Qt.TextElideMode.ElideRight)
        self.status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        for widget in (self.back_button, self.advance_button, self.where):
            bottom.addWidget(widget)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.exporter)  # down here, so the pane fits beside the docks at 1280x720

        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(split, 1)
        column.addLayout(bottom)
        self._sync_buttons()

    def _keys(self) -> None:
        keys = {"Space": self.advance, "Return": self.advance, "Enter": self.advance, "Backspace": self.back,
                "Ctrl+S": self.save, "Ctrl+L": self.load, "Ctrl+E": self.exporter.export,
                "Ctrl+R": self.exporter.launch, "F5": self.restart}
        keys |= {str(n): (lambda n=n: self.pick_number(n)) for n in range(1, 10)}
        self.shortcuts = []
        for key, action in keys.items():
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)
            self.shortcuts.append(shortcut)

    def set_project(self, project: str) -> None:
        """Play the scenes of another project."""
        self.project = self.exporter.project = project
        self.art.clear(project)
        self._ticket += 1
        self.scene_id, self.plan, self.position = None, {}, None
        self.backlog.clear()
        self.refresh_scenes()

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if payload.get("project") != self.project:
            return
        if name == "on_asset_registered":  # new art (a render finished): look again for what was missing
            self.art.forget_missing()
            self.stage.update()
        elif name == "on_project_changed" and payload.get("kind") == "scene":
            self.refresh_scenes()
            if payload.get("id") == self.scene_id and payload.get("action") == "updated" and self.scene_id:
                self._replan(self.scene_id)  # edited while playing: stage the new version from now on

    def _replan(self, scene_id: str) -> None:
        def planned(plan: dict[str, Any]) -> None:
            self.plan = {node["id"]: node for node in plan.get("nodes", [])}
            if self.position is not None:
                pos = self.position.pos
                self.position = Position.at(self.position.answer, self.plan.get(self.position.node_id, {}))
                self.position.pos = min(pos, max(len(self.position.lines) - 1, 0))
                self._render()

        self._request("POST", "/api/presentation/plan", planned, what="Planning the edited scene",
                      json_body={"scene_id": scene_id, "project": self.project})

    def _art_arrived(self) -> None:
        if isValid(self.stage):  # an answer may come after the pane was closed
            self.stage.update()

    def _place_overlays(self, frame: QRectF) -> None:
        self.dialogue.place(frame)
        self.choices.place(frame)

    # -- talking to the server -----------------------------------------------------------------

    def report(self, text: str, error: bool = False) -> None:
        """Show a message (errors in red) in the status line."""
        if not isValid(self.status):
            return
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b; font-weight: bold;" if error else "")

    def _request(self, method: str, path: str, on_done: Any, *, what: str, **kwargs: Any) -> None:
        ticket = self._ticket
        self.pending += 1
        self._sync_buttons()

        def done(answer: Any) -> None:
            if not isValid(self):
                return
            self.pending -= 1
            if ticket == self._ticket:
                on_done(answer)
            self._sync_buttons()

        def failed(error: BridgeError) -> None:
            if not isValid(self):
                return
            self.pending -= 1
            self.report(f"{what} failed: {error.message}", True)
            self._sync_buttons()

        self.bridge.call(method, path, on_done=done, on_error=failed, owner=self, **kwargs)

    def refresh_scenes(self) -> None:
        self._request("GET", "/api/scenes", self._scenes_listed, what="Listing scenes",
                      params={"project": self.project})

    def _scenes_listed(self, answer: Any) -> None:
        items = answer.get("items", []) if isinstance(answer, dict) else answer or []
        self.scene_box.clear()
        for item in items:
            title = item.get("title") or item["id"]
            self.scene_box.addItem(title if title == item["id"] else f"{title} ({item['id']})", item["id"])
        if not items:
            self.report(f"The project '{self.project}' has no scenes yet: import a chat or make one in the Timeline.")
            return
        if self.scene_id is None:
            self.open_scene(items[0]["id"])
        else:
            self._select_scene(self.scene_id)

    def _select_scene(self, scene_id: str) -> None:
        index = self.scene_box.findData(scene_id)
        if index >= 0:
            self.scene_box.setCurrentIndex(index)

    def open_scene(self, scene_id: str | None, *, then: Any = None) -> None:
        """Plan ``scene_id``, then start it from its beginning (or call ``then()`` instead)."""
        if not scene_id:
            return
        self._ticket += 1
        self.scene_id, self.plan, self.position = scene_id, {}, None
        self._select_scene(scene_id)
        self.report(f"Opening {scene_id}...")

        def planned(plan: dict[str, Any]) -> None:
            self.plan = {node["id"]: node for node in plan.get("nodes", [])}
            (then or self.restart)()

        self._request("POST", "/api/presentation/plan", planned, what="Planning the scene",
                      json_body={"scene_id": scene_id, "project": self.project})

    def restart(self) -> None:
        if not self.scene_id or not self.plan:
            return
        self.backlog.clear()
        self._request("POST", "/api/scenario/run/step", lambda a: self._show(a, "first", "Started"),
                      what="Starting the scene",
                      json_body={"scene_id": self.scene_id, "project": self.project, "seed": self.seed})

    def _step(self, choice_id: str | None = None) -> None:
        assert self.position is not None
        body = {"scene_id": self.scene_id, "project": self.project, "state": self.position.state}
        if choice_id:
            body["choice_id"] = choice_id
        self._request("POST", "/api/scenario/run/step", lambda a: self._show(a, "first"), what="Stepping",
                      json_body=body)

    def _show(self, answer: dict[str, Any], where: str, note: str | None = None) -> None:
        node = str(answer["state"]["node"])
        self.position = Position.at(answer, self.plan.get(node, {}), where)
        if where == "first":
            self._seen()
        else:
            self.backlog.prune(self.position.key())
        self._render()
        if note:
            self.report(note)

    # -- playing -------------------------------------------------------------------------------

    def advance(self) -> None:
        here = self.position
        if here is None or self.pending:
            return
        if not here.at_last_line:
            here.pos += 1
            self._seen()
            self._render()
        elif here.waiting_for_choice:
            self.report(f"Pick a choice (1-{min(len(here.choices), 9)}).")
        elif here.finished:
            self.report(f"The end ({here.answer.get('reason') or 'end'}). F5 plays it again.")
        else:
            self._step()

    def pick_number(self, n: int) -> None:
        if self.position is not None and self.position.waiting_for_choice and n <= len(self.position.choices):
            self.pick(self.position.choices[n - 1]["id"])

    def pick(self, choice_id: str) -> None:
        here = self.position
        if here is None or self.pending or not here.waiting_for_choice:
            return
        label = next((c.get("label") or c["id"] for c in here.choices if c["id"] == choice_id), choice_id)
        self.backlog.add((here.step, CHOICE_POS), "", f"> {label}")
        self._step(choice_id)

    def back(self) -> None:
        here = self.position
        if here is None or self.pending:
            return
        if here.pos > 0:
            here.pos -= 1
            self.backlog.prune(here.key())
            self._render()
        elif here.state.get("history"):
            self._request("POST", "/api/scenario/run/back", lambda a: self._show(a, "last"), what="Going back",
                          json_body={"scene_id": self.scene_id, "project": self.project, "state": here.state,
                                     "steps": 1})
        else:
            self.report("This is the start of the scene.")

    def _seen(self) -> None:
        line = self.position.line() if self.position else None
        if line is not None:
            self.backlog.add(self.position.key(), line[0], line[1])

    def _render(self) -> None:
        here = self.position
        if here is None:
            return
        self.stage.show_stage(here.stage())
        line = here.line()
        speaker, text, kind = line if line else ("", "", "narrate")
        if here.finished and here.at_last_line and not here.choices:
            text = f"{text}\n\n- The End -" if text else "- The End -"
        self.dialogue.show_line(speaker, text, kind=kind)
        self.choices.set_choices(here.choices if here.waiting_for_choice else [])
        self.choices.place(self.stage.frame_rect())
        where = f"{here.node_id} / line {here.pos + 1}/{max(len(here.lines), 1)} / {self.scene_id}"
        self.where.setText(where)  # the scene id is cut first to fit; the whole text in its tooltip
        self.stage.setFocus()
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        playing = self.position is not None and not self.pending
        for button in (self.back_button, self.advance_button, self.save_button):
            button.setEnabled(playing)
        self.restart_button.setEnabled(bool(self.plan) and not self.pending)

    # -- saves ---------------------------------------------------------------------------------

    def slot(self) -> str:
        return self.slot_box.currentText().strip()

    def refresh_slots(self) -> None:
        def listed(answer: dict[str, Any]) -> None:
            if not isValid(self):
                return
            typed = self.slot()
            self.slot_box.clear()
            for save in answer.get("saves", []):
                label = save.get("label") or save.get("error") or ""
                self.slot_box.addItem(save["slot"])
                self.slot_box.setItemData(self.slot_box.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
            self.slot_box.setEditText(typed or "slot1")

        self.bridge.get("/api/save/list", on_done=listed, owner=self,
                        on_error=lambda error: self.report(f"Listing saves failed: {error.message}", True))

    def save(self) -> None:
        here, slot = self.position, self.slot()
        if here is None or self.pending:
            return
        if not slot:
            self.report("Type a slot name to save to.", True)
            return
        line = here.line()
        label = f"{self.scene_id}: {line[1][:60]}" if line else f"{self.scene_id} at {here.node_id}"
        body = {"state": here.state, "project": self.project, "label": label, "metadata": {"line": here.pos}}

        def saved(answer: dict[str, Any]) -> None:
            self.report(f"Saved to slot '{answer['save']['slot']}'.")
            self.refresh_slots()

        self._request("POST", f"/api/save/{quote(slot, safe='')}", saved, what="Saving", json_body=body)

    def load(self) -> None:
        slot = self.slot()
        if not slot or self.pending:
            return

        def resumed(answer: dict[str, Any]) -> None:
            scene = str(answer["state"]["scene_id"])
            changed = " (the scene was edited since)" if answer.get("scene_changed") else ""
            show = lambda: (self.backlog.clear(), self._show(answer, "first", f"Loaded slot '{slot}'{changed}."))
            if scene != self.scene_id or not self.plan:
                self.open_scene(scene, then=show)
            else:
                show()

        self._request("POST", f"/api/save/{quote(slot, safe='')}/resume", resumed, what=f"Loading slot '{slot}'",
                      json_body={})
