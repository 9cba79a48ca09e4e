"""The Timeline Workshop pane: a node editor of one scene of a project.

Loads a scene (``GET /api/scenes/{id}?project=``), edits the document in place (add, link,
delete, rename, inline text), validates it after every edit (``POST /api/scenario/validate``,
errors drawn on their nodes) and saves it (``PUT /api/scenes/{id}?expected_revision=``). Switching
scenes, reloading or closing the Studio with unsaved changes asks to save, discard or cancel."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.timeline import graph
from comfyvn.gui.timeline.canvas import GraphScene, GraphView
from comfyvn.gui.timeline.items import HEADER, HEIGHT, WIDTH
from comfyvn.gui.unsaved import UnsavedGuard
from comfyvn.gui.widgets import StatusLine, shortcut_action

VALIDATE_DELAY_MS = 250


class WorkshopPane(QWidget):
    scene_loaded = Signal(str)  # scene id
    saved = Signal(str)  # the new revision
    validated = Signal(dict)  # the validator's answer
    breakpoints_changed = Signal()

    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project = bridge, project
        self.scene_id: str | None = None
        self.revision: str | None = None
        self.document: dict[str, Any] = {}
        self.dirty = False
        self.breakpoints: set[str] = set()
        self.current: str | None = None
        self.general_errors: list[str] = []
        self._validation = 0  # generation: answers to older requests are ignored
        self._link_from: str | None = None
        self.guard = UnsavedGuard(self, what=lambda: f"The scene {self.scene_id}", dirty=lambda: self.dirty,
                                  save=self.save, discard=self._discard)
        self.confirm_discard = self.guard.confirm  # the main window asks it before closing
        self.canvas = GraphScene(self)
        self.view = GraphView(self.canvas)
        self.picker = QComboBox()
        self.picker.setMinimumWidth(140)
        self.picker.setToolTip("The scene to edit")
        self.picker.activated.connect(lambda _: self.switch_scene(self.picker.currentData()))
        self.status = StatusLine("Loading the scene list…")
        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(VALIDATE_DELAY_MS)
        self._validate_timer.timeout.connect(self.validate)

        bar = QToolBar()  # a tool bar folds what does not fit behind its extension arrow
        bar.addWidget(QLabel("Scene:"))
        bar.addWidget(self.picker)
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, keys, slot in [
            ("reload", "Reload", "Ctrl+R", lambda: self.switch_scene(self.scene_id)),
            ("save", "Save", "Ctrl+S", self.save),
            ("validate", "Validate", "F7", self.validate),
            ("add", "Add node", "Ctrl+N", self.add_node),
            ("link", "Link", "L", self.start_link),
            ("delete", "Delete", "Delete", self.delete_selected),
            ("edit", "Edit text", "F2", self.edit_selected),
            ("breakpoint", "Breakpoint", "F9", self.toggle_selected_breakpoint),
            ("layout", "Auto-layout", "Ctrl+L", self.auto_layout),
            ("fit", "Fit", "Ctrl+0", self.view.fit),
        ]:
            action = self.actions_by_name[name] = shortcut_action(self, text, keys, slot)
            bar.addAction(action)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(bar)
        column.addWidget(self.view, 1)
        column.addWidget(self.status)

        self.canvas.link_requested.connect(self.link)
        self.canvas.node_activated.connect(self.edit_node)
        self.canvas.edge_activated.connect(self.edit_choice)
        self.canvas.node_moved.connect(self._moved)
        self.canvas.selectionChanged.connect(self._selection_changed)
        bridge.event.connect(self._on_event)
        self.refresh_scenes()

    # -- loading and saving --------------------------------------------------------------------

    def refresh_scenes(self) -> None:
        self.bridge.get("/api/scenes", params={"project": self.project}, on_done=self._got_scenes,
                        on_error=self._error, owner=self)

    def _got_scenes(self, answer: dict[str, Any]) -> None:
        current = self.scene_id
        self.picker.clear()
        for item in answer.get("items") or []:
            self.picker.addItem(f"{item.get('title') or item['id']}  ({item['id']})", item["id"])
        if current is not None and self.picker.findData(current) >= 0:
            self.picker.setCurrentIndex(self.picker.findData(current))
        elif self.scene_id is None:
            self._say(f"{self.picker.count()} scene(s) in project {self.project}; pick one to edit.")

    def load_scene(self, scene_id: str | None) -> None:
        if not scene_id:
            return
        self._say(f"Loading {scene_id}…")
        self.bridge.get(f"/api/scenes/{scene_id}", params={"project": self.project}, on_done=self._loaded,
                        on_error=self._error, owner=self)

    def reload(self) -> None:
        self.load_scene(self.scene_id)

    def switch_scene(self, scene_id: str | None) -> None:
        """Load ``scene_id`` (or reload this one) once unsaved changes are saved or discarded."""
        if self.confirm_discard(lambda: self.load_scene(scene_id)):
            self.load_scene(scene_id)
        else:
            self._show_current_in_picker()

    def _discard(self) -> None:
        self.dirty = False

    def _show_current_in_picker(self) -> None:
        index = self.picker.findData(self.scene_id)
        if index >= 0:
            self.picker.setCurrentIndex(index)

    def _loaded(self, answer: dict[str, Any]) -> None:
        self.scene_id, self.revision = answer["id"], answer.get("revision")
        self.document = copy.deepcopy(answer.get("data") or {})
        self.dirty, self.current, self._link_from = False, None, None
        self.breakpoints &= {str(n.get("id")) for n in self.document.get("nodes") or []}
        self.canvas.load(self.document)
        for node_id in self.breakpoints:
            self.canvas.nodes[node_id].set_breakpoint(True)
        self.view.fit()
        index = self.picker.findData(self.scene_id)
        if index >= 0:
            self.picker.setCurrentIndex(index)
        self._say(f"{self.scene_id}: {len(self.canvas.nodes)} nodes, revision {str(self.revision)[:8]}")
        self.scene_loaded.emit(self.scene_id)
        self.validate()

    def save(self) -> None:
        if self.scene_id is None:
            self._say("Nothing to save: load a scene first.", error=True)
            return
        params = {"project": self.project}
        if self.revision:
            params["expected_revision"] = self.revision
        self._say(f"Saving {self.scene_id}…")
        ids = self._ids()
        self.bridge.call("PUT", f"/api/scenes/{self.scene_id}", params=params, json_body=self.document,
                         on_done=self._saved, on_error=lambda error: self._save_failed(error, ids), owner=self)

    def _saved(self, answer: dict[str, Any]) -> None:
        self.revision = answer.get("revision")
        self.dirty = False
        warnings = answer.get("warnings") or []
        self._say(f"Saved {self.scene_id} (revision {str(self.revision)[:8]})"
                  + (f"; {len(warnings)} warning(s)" if warnings else "."))
        self.saved.emit(str(self.revision))
        self.guard.saved()

    def _save_failed(self, error: BridgeError, ids: list[str]) -> None:
        self.guard.failed()  # the switch or close that waited for this save does not happen
        if error.code == "conflict" or error.status == 409:
            self._say(f"Not saved: {error.message}. Someone saved this scene meanwhile: Reload (Ctrl+R) "
                      "to see their version.", error=True)
            return
        details = error.details if isinstance(error.details, dict) else {}
        if details.get("errors"):
            self._apply_problems(details["errors"], ids)
        self._say(f"Not saved: {error.message}", error=True)

    # -- validation ----------------------------------------------------------------------------

    def _ids(self) -> list[str]:
        return [str(n.get("id")) for n in self.document.get("nodes") or []]

    def validate(self) -> None:
        if not self.document:
            return
        self._validation += 1
        generation, ids = self._validation, self._ids()
        self.bridge.post("/api/scenario/validate", {"scene": self.document},
                         on_done=lambda answer: self._validated(answer, generation, ids), on_error=self._error,
                         owner=self)

    def _validated(self, answer: dict[str, Any], generation: int, ids: list[str]) -> None:
        if generation != self._validation:
            return
        self._apply_problems(answer.get("errors") or [], ids)
        warnings = answer.get("warnings") or []
        if answer.get("errors"):
            text = f"{len(answer['errors'])} error(s): " + "; ".join(
                [f"{node}: {msgs[0]}" for node, msgs in self.node_errors().items()][:3] + self.general_errors[:2])
            self._say(text, error=True)
        else:
            self._say(("Unsaved changes. " if self.dirty else "") + "Valid"
                      + (f" ({len(warnings)} warning(s))" if warnings else "") + ".")
        self.validated.emit(answer)

    def _apply_problems(self, problems: list[dict[str, Any]], ids: list[str]) -> None:
        per_node, self.general_errors = graph.errors_by_node(problems, ids)
        for node_id, item in self.canvas.nodes.items():
            item.set_errors(per_node.get(node_id, []))

    def node_errors(self) -> dict[str, list[str]]:
        return {node_id: item.errors for node_id, item in self.canvas.nodes.items() if item.errors}

    # -- editing -------------------------------------------------------------------------------

    def _changed(self, structure: bool = False) -> None:
        self.dirty = True
        if structure:
            self.canvas.sync()
        self._validate_timer.start()

    def add_node(self) -> str | None:
        if self.scene_id is None:
            self._say("Load a scene first.", error=True)
            return None
        anchor = self.canvas.selected_nodes()
        node = graph.add_node(self.document)
        self._changed(structure=True)
        item = self.canvas.nodes[node["id"]]
        if anchor:
            item.setPos(anchor[0].pos().x() + graph.LAYER_GAP, anchor[0].pos().y() + graph.ROW_GAP / 2)
        else:
            centre = self.view.mapToScene(self.view.viewport().rect().center())
            item.setPos(centre.x() - WIDTH / 2, centre.y() - HEIGHT / 2)
        self.canvas.clearSelection()
        item.setSelected(True)
        self._say(f"Added {node['id']}: drag from its port (or press L) to link it.")
        return node["id"]

    def start_link(self) -> None:
        selected = self.canvas.selected_nodes()
        if len(selected) != 1:
            self._say("Select one node to link from, press L, then click the node to link to.", error=True)
            return
        self._link_from = selected[0].node_id
        self._say(f"Linking from {self._link_from}: click the target node (Esc cancels).")

    def _selection_changed(self) -> None:
        selected = self.canvas.selected_nodes()
        if self._link_from and len(selected) == 1 and selected[0].node_id != self._link_from:
            source, self._link_from = self._link_from, None
            self.link(source, selected[0].node_id)

    def link(self, source: str, target: str) -> None:
        try:
            made = graph.link(self.document, source, target)
        except ValueError as exc:
            self._say(f"Cannot link: {exc}", error=True)
            return
        self._changed(structure=True)
        self._say(f"Linked {source} \u2192 {target} ({'next' if made == 'next' else 'choice ' + made}).")

    def delete_selected(self) -> None:
        nodes, edges = self.canvas.selected_nodes(), self.canvas.selected_edges()
        if not nodes and not edges:
            self._say("Select nodes or links to delete.", error=True)
            return
        for edge in edges:
            graph.unlink(self.document, edge.source.node_id, edge.choice)
        for item in nodes:
            graph.delete_node(self.document, item.node_id)
            self.breakpoints.discard(item.node_id)
        self._changed(structure=True)
        self._say(f"Deleted {len(nodes)} node(s) and {len(edges)} link(s).")

    def edit_selected(self) -> None:
        selected = self.canvas.selected_nodes()
        if selected:
            self.edit_node(selected[0].node_id, "text")

    def edit_node(self, node_id: str, part: str) -> None:
        item = self.canvas.nodes.get(node_id)
        if item is None:
            return
        if part == "id":
            rect = QRectF(item.pos().x(), item.pos().y(), WIDTH, HEADER)
            self.view.edit_inline(rect, node_id, lambda text: self._rename(node_id, text.strip()))
        else:
            rect = QRectF(item.pos().x(), item.pos().y() + HEADER, WIDTH, HEIGHT - HEADER)
            self.view.edit_inline(rect, graph.edit_text(item.node), lambda text: self._set_text(item, text))

    def _set_text(self, item: Any, text: str) -> None:
        if text == graph.edit_text(item.node):
            return
        graph.set_text(item.node, text)
        item.refresh()
        self._changed()

    def _rename(self, old: str, new: str) -> None:
        if not new or new == old:
            return
        graph.rename(self.document, old, new)
        if old in self.breakpoints:
            self.breakpoints.discard(old)
            self.breakpoints.add(new)
        self._changed(structure=True)

    def edit_choice(self, source: str, choice_id: str) -> None:
        node = graph.find(self.document, source)
        choice = next((c for c in (node or {}).get("choices") or [] if c.get("id") == choice_id), None)
        edge = next((e for e in self.canvas.edge_items if e.choice == choice_id and e.source.node_id == source), None)
        if choice is None or edge is None:
            return

        def commit(text: str) -> None:
            if text != choice.get("label"):
                choice["label"] = text
                self._changed(structure=True)

        self.view.edit_inline(edge.mapRectToScene(edge.label_rect()), str(choice.get("label") or ""), commit)

    def _moved(self, node_id: str, x: float, y: float) -> None:
        node = graph.find(self.document, node_id)
        if node is not None:
            node.setdefault("metadata", {})[graph.POS_KEY] = [round(x, 1), round(y, 1)]
            self.dirty = True

    def auto_layout(self) -> None:
        self.canvas.relayout()
        self.dirty = True
        self.view.fit()

    # -- breakpoints and the runner's current node ---------------------------------------------

    def toggle_selected_breakpoint(self) -> None:
        for item in self.canvas.selected_nodes():
            self.set_breakpoint(item.node_id, item.node_id not in self.breakpoints)

    def set_breakpoint(self, node_id: str, on: bool) -> None:
        (self.breakpoints.add if on else self.breakpoints.discard)(node_id)
        if node_id in self.canvas.nodes:
            self.canvas.nodes[node_id].set_breakpoint(on)
        self.breakpoints_changed.emit()

    def highlight(self, node_id: str | None) -> None:
        """Mark the runner's current node (None: no run) and bring it into view."""
        if self.current in self.canvas.nodes:
            self.canvas.nodes[self.current].set_current(False)
        self.current = node_id
        item = self.canvas.nodes.get(node_id or "")
        if item is not None:
            item.set_current(True)
            self.view.ensureVisible(item, 60, 60)

    # -- plumbing ------------------------------------------------------------------------------

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape and self._link_from:
            self._link_from = None
            self._say("Link cancelled.")
            return
        super().keyPressEvent(event)

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "on_project_changed" and payload.get("project") == self.project and payload.get("kind") == "scene":
            self.refresh_scenes()

    def _error(self, error: BridgeError) -> None:
        self._say(error.message, error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.say(text, error=error)
