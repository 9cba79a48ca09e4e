"""The Scenario Runner dock: plays the scene open in the Timeline Workshop (as edited, unsaved
changes included) with the server's deterministic runner, and highlights the current node.

Seed, POV and starting variables apply when a run starts; choice overrides are taken in order at
choice points by Run; breakpoints are set on the graph's nodes (F9 there). Endpoints:
``POST /api/scenario/run/step``, ``/run/play`` and ``/run/back`` with the scene inline."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.timeline.workshop import WorkshopPane
from comfyvn.gui.widgets import StatusLine, shortcut_action

RANDOM = "(random by weight)"


class RunnerDock(QWidget):
    stepped = Signal(dict)  # every answer of the runner

    def __init__(self, bridge: ServerBridge, workshop: WorkshopPane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.workshop = bridge, workshop
        self.state: dict[str, Any] | None = None
        self.busy = False
        self.seed = QLineEdit("1")
        self.seed.setToolTip("An integer or any text; used when a run starts")
        self.pov = QComboBox()
        self.pov.setEditable(True)
        self.pov.setToolTip("The point of view (a cast id or name); empty: every choice is visible")
        self.variables = QPlainTextEdit("{}")
        self.variables.setToolTip("Starting variable overrides, a JSON object (used when a run starts)")
        self.variables.setMaximumHeight(70)
        self.overrides = QLineEdit()
        self.overrides.setPlaceholderText("choice ids, comma separated")
        self.overrides.setToolTip("Run takes these choices in order at choice points, then picks at random")
        self.breakpoint_list = QListWidget()
        self.breakpoint_list.setMaximumHeight(70)
        self.breakpoint_list.setToolTip("Set on the graph: select a node and press F9. Double-click to remove.")
        self.breakpoint_list.itemDoubleClicked.connect(lambda item: workshop.set_breakpoint(item.text(), False))
        form = QFormLayout()
        form.addRow("Seed", self.seed)
        form.addRow("POV", self.pov)
        form.addRow("Variables", self.variables)
        form.addRow("Choices", self.overrides)
        form.addRow("Breakpoints", self.breakpoint_list)

        buttons = QHBoxLayout()
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, keys, slot in [("restart", "Restart", "Ctrl+F5", self.restart), ("step", "Step", "F10", self.step),
                                       ("back", "Back", "Shift+F10", self.back), ("run", "Run", "F5", self.run)]:
            action = self.actions_by_name[name] = shortcut_action(
                self, text, keys, slot, context=Qt.ShortcutContext.WindowShortcut)
            button = QToolButton()
            button.setDefaultAction(action)
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.where = QLabel("Not running.")
        self.where.setWordWrap(True)
        self.lines = QLabel("")
        self.lines.setWordWrap(True)
        self.lines.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choices = QListWidget()
        self.choices.setToolTip("The choice Step takes (none selected: a random pick by weight)")
        self.choices.setMaximumHeight(90)
        self.vars_view = QPlainTextEdit()
        self.vars_view.setReadOnly(True)
        self.vars_view.setMaximumHeight(90)
        self.status = StatusLine()
        column = QVBoxLayout(self)
        column.addLayout(form)
        column.addLayout(buttons)
        column.addWidget(self.where)
        column.addWidget(self.lines)
        column.addWidget(QLabel("Choices offered"))
        column.addWidget(self.choices)
        column.addWidget(QLabel("Variables now"))
        column.addWidget(self.vars_view)
        column.addWidget(self.status)
        column.addStretch(1)
        workshop.scene_loaded.connect(self._scene_loaded)
        workshop.breakpoints_changed.connect(self._breakpoints_changed)

    # -- the run -------------------------------------------------------------------------------

    def restart(self) -> None:
        """Forget the run; the next Step starts at the start node."""
        self.state = None
        self.workshop.highlight(None)
        self.where.setText("Not running: Step or Run starts at the start node.")
        self.lines.setText("")
        self.choices.clear()
        self.vars_view.setPlainText("")
        self._say("")

    def step(self) -> None:
        body = self._body()
        if body is None:
            return
        if self.state is not None:
            item = self.choices.currentItem()
            if item is not None and item.data(Qt.ItemDataRole.UserRole):
                body["choice_id"] = item.data(Qt.ItemDataRole.UserRole)
        self._send("/api/scenario/run/step", body)

    def run(self) -> None:
        body = self._body()
        if body is None:
            return
        body["choices"] = [c.strip() for c in self.overrides.text().split(",") if c.strip()]
        body["breakpoints"] = sorted(self.workshop.breakpoints)
        self._send("/api/scenario/run/play", body)

    def back(self) -> None:
        if self.state is None:
            self._say("Nothing to go back from: the run has not started.", error=True)
            return
        if not self.state.get("history"):
            self._say("This is the start of the run: nothing to go back to.", error=True)
            return
        self._send("/api/scenario/run/back", {"scene": self.workshop.document, "state": self.state, "steps": 1})

    def _body(self) -> dict[str, Any] | None:
        if not self.workshop.document:
            self._say("Open a scene in the Timeline Workshop first.", error=True)
            return None
        body: dict[str, Any] = {"scene": self.workshop.document}
        if self.state is not None:
            body["state"] = self.state
            return body
        try:
            variables = json.loads(self.variables.toPlainText() or "{}")
        except ValueError as exc:
            self._say(f"Variables are not valid JSON: {exc}", error=True)
            return None
        if not isinstance(variables, dict):
            self._say("Variables must be a JSON object, e.g. {\"trust\": 2}.", error=True)
            return None
        seed = self.seed.text().strip()
        body["seed"] = int(seed) if seed.lstrip("-").isdigit() else (seed or None)
        if variables:
            body["variables"] = variables
        if self.pov.currentText().strip():
            body["pov"] = self.pov.currentText().strip()
        return body

    def _send(self, path: str, body: dict[str, Any]) -> None:
        if self.busy:
            return
        self.busy = True
        self._say("…")
        self.bridge.post(path, body, on_done=self._answered, on_error=self._failed, owner=self)

    def _answered(self, answer: dict[str, Any]) -> None:
        self.busy = False
        self.state = answer["state"]
        node = answer.get("node") or {}
        self.workshop.highlight(self.state["node"])
        where = f"Step {self.state.get('step', 0)} at <b>{node.get('id', self.state['node'])}</b>"
        if answer.get("finished"):
            where += f": finished ({answer.get('reason')})"
        if answer.get("stopped"):
            where += f" \u2014 stopped: {answer['stopped']}"
        self.where.setText(where)
        lines = []
        for line in node.get("lines") or []:
            text = line.get("text")
            if text:
                lines.append(f"{line['speaker']}: {text}" if line.get("speaker") else str(text))
        self.lines.setText("\n".join(lines) or "(no lines)")
        self.choices.clear()
        offered = answer.get("choices") or []
        if offered:
            random_item = QListWidgetItem(RANDOM)
            random_item.setData(Qt.ItemDataRole.UserRole, None)
            self.choices.addItem(random_item)
        for choice in offered:
            item = QListWidgetItem(f"{choice.get('label') or choice['id']}  \u2192 {choice.get('target')}")
            item.setData(Qt.ItemDataRole.UserRole, choice["id"])
            self.choices.addItem(item)
        self.vars_view.setPlainText(json.dumps(self.state.get("vars") or {}, indent=1, sort_keys=True))
        self._say("")
        self.stepped.emit(answer)

    def _failed(self, error: BridgeError) -> None:
        self.busy = False
        details = error.details if isinstance(error.details, dict) else {}
        extra = ""
        if details.get("available") is not None:
            extra = f" (offered: {details['available']})"
        elif details.get("errors"):
            extra = " \u2014 " + "; ".join(f"{e.get('path')}: {e.get('message')}" for e in details["errors"][:3])
        self._say(f"{error.message}{extra}", error=True)

    # -- following the workshop ----------------------------------------------------------------

    def _scene_loaded(self, scene_id: str) -> None:
        self.restart()
        self.pov.clear()
        self.pov.addItem("")
        for member in self.workshop.document.get("cast") or []:
            self.pov.addItem(str(member.get("id")))
        self._breakpoints_changed()
        self.where.setText(f"Not running ({scene_id}): Step or Run starts at the start node.")

    def _breakpoints_changed(self) -> None:
        self.breakpoint_list.clear()
        self.breakpoint_list.addItems(sorted(self.workshop.breakpoints))

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.say(text, error=error)
