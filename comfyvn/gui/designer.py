"""The Character Designer pane: pick a character of the project, edit its name, description,
appearance, expressions, default expression and colour, its LoRA stack, and render its portrait or
sprites with the configured provider (ComfyUI, or the built-in renderer) as jobs; the pictures show
up inline when the jobs finish.

New (Ctrl+N) creates a character from a name, Delete removes the open one (its renders stay in the
asset registry). Switching characters, F5 or closing the Studio with unsaved edits asks to save
(the fields and the LoRA stack), discard or cancel.

Endpoints: ``GET/POST/PATCH/DELETE /api/characters[/{id}]`` (saves send ``expected_revision``),
``GET/PUT /api/characters/{id}/loras``, ``POST /api/characters/render``, ``GET /jobs/{id}``,
``GET /assets`` (earlier renders) and the asset thumbnails (the render box: designer_renders.py).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.designer_renders import RenderBox
from comfyvn.gui.panels import scrolling
from comfyvn.gui.unsaved import UnsavedGuard
from comfyvn.sillytavern import slug_id

FIRST = "(first expression)"
ID_ROLE = Qt.ItemDataRole.UserRole
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _text_box(placeholder: str = "") -> QPlainTextEdit:
    box = QPlainTextEdit(placeholderText=placeholder)
    box.setMaximumHeight(64)
    box.setTabChangesFocus(True)
    return box


def _button(text: str, tip: str) -> QPushButton:
    """A button with a short label; what it does and its shortcut are in the tooltip."""
    button = QPushButton(text)
    button.setToolTip(tip)
    return button


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row


def _column(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        column.addWidget(widget)
    return holder


class DesignerPane(QWidget):
    """Characters on the left, the editor in the middle, renders on the right. Shortcuts: Ctrl+S
    save, F5 reload, Ctrl+R render sprites, Ctrl+Shift+R render a portrait, Ctrl+L save the LoRAs."""

    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project = bridge, project
        self.character_id: str | None = None
        self.revision: str | None = None
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._clean: tuple[dict[str, Any] | None, list[dict[str, Any]]] = (None, [])  # as loaded: fields, LoRAs
        self._saving: set[str] = set()  # the parts of a Save still on their way: "fields", "loras"
        self.guard = UnsavedGuard(self, what=lambda: f"The character {self.character_id}", dirty=self.dirty,
                                  save=self.save)
        self.confirm_discard = self.guard.confirm  # the main window asks it before closing
        # replaceable in tests: the name of a new character (or None), and a yes/no question
        self.ask_name = self._ask_name
        self.ask_yes = lambda text: QMessageBox.question(self, "Character Designer", text) \
            == QMessageBox.StandardButton.Yes

        self.list = QListWidget()
        self.list.setMinimumWidth(110)
        self.list.setMinimumHeight(60)
        self.reload_button = _button("Reload", "Reload the list and the open character (F5)")
        self.new_button = _button("New", "Create a character from a name (Ctrl+N)")
        self.delete_button = _button("Delete", "Delete the open character; its renders stay in the asset registry")
        left = _column(QLabel("Characters"), self.list, self.new_button, self.delete_button, self.reload_button)

        self.id_label = QLabel("-")
        self.name_edit = QLineEdit()
        self.display_edit = QLineEdit(placeholderText="defaults to the name")
        self.description_edit = _text_box()
        self.appearance_edit = _text_box("prompt text: short red hair, green apron")
        self.style_edit = QLineEdit(placeholderText="default")
        self.expressions_edit = QLineEdit(placeholderText="neutral, joy, angry")
        self.default_box = QComboBox()
        self.color_edit = QLineEdit(placeholderText="#rrggbb")
        self.color_swatch = QLabel()
        self.color_swatch.setFixedSize(22, 22)
        colour_row = _row(self.color_edit, self.color_swatch)
        colour_row.setStretch(0, 1)
        self.save_button = _button("Save", "Save the fields and the LoRA stack (Ctrl+S)")
        editor = QGroupBox("Character")
        form = QFormLayout(editor)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for label, field in (("Id", self.id_label), ("Name", self.name_edit), ("Display name", self.display_edit),
                             ("Description", self.description_edit), ("Appearance", self.appearance_edit),
                             ("Style", self.style_edit), ("Expressions", self.expressions_edit),
                             ("Default", self.default_box), ("Colour", colour_row)):
            form.addRow(label, field)

        self.lora_table = QTableWidget(0, 2)
        self.lora_table.setHorizontalHeaderLabels(["LoRA file", "Strength"])
        self.lora_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.lora_table.setMinimumHeight(60)
        self.lora_table.setMaximumHeight(120)
        self.add_lora_button = _button("Add", "Add a LoRA row")
        self.remove_lora_button = _button("Remove", "Remove the selected LoRA row")
        self.save_loras_button = _button("Save LoRAs", "Save the LoRA stack only (Ctrl+L)")
        lora_box = QGroupBox("LoRA stack")
        lora_column = QVBoxLayout(lora_box)
        lora_column.addWidget(self.lora_table)
        lora_column.addLayout(_row(self.add_lora_button, self.remove_lora_button, self.save_loras_button))
        middle = _column(editor, lora_box)
        middle.layout().addStretch(1)
        fields = scrolling(middle)  # the editor scrolls when the window is short; Save stays in sight below it
        fields.setMinimumWidth(fields.widget().minimumSizeHint().width() + fields.verticalScrollBar().sizeHint().width())
        middle = _column(fields, self.save_button)
        middle.layout().setStretch(0, 1)

        render_box = self.render_box = RenderBox(bridge, project, self.status.setText)
        # the render box's parts, by the names the pane's users and tests know
        self.provider_box, self.renders = render_box.provider_box, render_box.renders
        self.portrait_button, self.sprites_button = render_box.portrait_button, render_box.sprites_button

        splitter = QSplitter()
        for widget in (left, middle, render_box):
            splitter.addWidget(widget)
        for index, stretch in enumerate((1, 3, 3)):
            splitter.setStretchFactor(index, stretch)
        splitter.setChildrenCollapsible(False)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(splitter, 1)
        column.addWidget(self.status)

        self.list.currentItemChanged.connect(lambda item, _old: item and self.switch_character(item.data(ID_ROLE)))
        self.reload_button.clicked.connect(self.reload)
        self.new_button.clicked.connect(self.new_character)
        self.delete_button.clicked.connect(self.delete_character)
        self.save_button.clicked.connect(self.save)
        self.expressions_edit.editingFinished.connect(self._fill_defaults)
        self.color_edit.textChanged.connect(self._paint_swatch)
        self.add_lora_button.clicked.connect(lambda: self._add_lora_row("", 1.0))
        self.remove_lora_button.clicked.connect(lambda: self.lora_table.removeRow(self.lora_table.currentRow()))
        self.save_loras_button.clicked.connect(self.save_loras)
        for keys, slot in (("Ctrl+S", self.save), ("F5", self.reload), ("Ctrl+N", self.new_character),
                           ("Ctrl+R", lambda: self.render("sprites")),
                           ("Ctrl+Shift+R", lambda: self.render("portrait")), ("Ctrl+L", self.save_loras)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        bridge.event.connect(self._on_event)
        self._set_enabled(False)
        QTimer.singleShot(0, self.refresh)

    # -- the list and one character ------------------------------------------------------------

    def refresh(self, reload: bool = True) -> None:
        """List the characters again; ``reload`` also reloads the open one (dropping unsaved edits)."""
        self.bridge.get("/api/characters", params={"project": self.project}, owner=self,
                        on_done=lambda answer: self._listed(answer, reload), on_error=self._error)

    def _listed(self, answer: dict[str, Any], reload: bool) -> None:
        keep = self.character_id
        self.list.blockSignals(True)
        self.list.clear()
        for entry in answer.get("items") or []:
            item = QListWidgetItem(f"{entry.get('name') or entry['id']}  ({entry['id']})")
            item.setData(ID_ROLE, entry["id"])
            self.list.addItem(item)
            if entry["id"] == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.list.count() == 0:
            self.status.setText("No characters in this project yet: import a roleplay or create one over the API.")
        elif self.list.currentItem() is None:  # nothing open yet, or the open one was deleted
            self.list.setCurrentRow(0)
        elif reload:
            self.open_character(keep)

    def reload(self) -> None:
        """F5: the list and the open character again, once unsaved edits are saved or discarded."""
        if self.guard.confirm(self.refresh):
            self.refresh()

    def switch_character(self, character_id: str) -> None:
        if character_id == self.character_id:
            return
        if self.guard.confirm(lambda: self.open_character(character_id)):
            self.open_character(character_id)
        else:
            self._select(self.character_id)

    def _select(self, character_id: str | None) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == character_id:
                self.list.setCurrentRow(row)
        self.list.blockSignals(False)

    def dirty(self) -> bool:
        """The form or the LoRA stack differs from what was loaded."""
        fields, stack = self._clean
        return fields is not None and self.save_button.isEnabled() and (self.changes() != fields
                                                                         or self.loras() != stack)

    def _ask_name(self) -> str | None:
        text, ok = QInputDialog.getText(self, "New character", "Name:")
        return text.strip() if ok else None

    def new_character(self) -> None:
        name = self.ask_name()
        if not name:
            return
        taken = {self.list.item(row).data(ID_ROLE) for row in range(self.list.count())}
        base = new_id = slug_id(name)
        number = 1
        while new_id in taken:
            number += 1
            new_id = f"{base}-{number}"
        self.bridge.post(f"/api/characters?project={self.project}", {"id": new_id, "name": name},
                         on_done=self._created, on_error=self._error)

    def _created(self, answer: dict[str, Any]) -> None:
        self.status.setText(f"Created {answer['id']}.")
        new = answer["id"]
        if self.guard.confirm(lambda: self.open_character(new)):
            self.open_character(new)
        self.refresh(reload=False)

    def delete_character(self) -> None:
        if self.character_id is None or not self.ask_yes(
                f"Delete the character {self.character_id}? Its renders stay in the asset registry."):
            return
        self.bridge.call("DELETE", f"/api/characters/{self.character_id}", params={"project": self.project},
                         on_done=self._deleted, on_error=self._error)

    def _deleted(self, answer: dict[str, Any]) -> None:
        self.character_id, self._clean = None, (None, [])
        self._set_enabled(False)
        self.render_box.set_character(None)
        self.status.setText("Deleted.")
        self.refresh()

    def open_character(self, character_id: str) -> None:
        """Load ``character_id`` into the editor (its record, LoRA stack and earlier renders)."""
        self.character_id, self._clean = character_id, (None, [])
        self._select(character_id)
        self._set_lora_enabled(False)
        params = {"project": self.project}
        self.bridge.get(f"/api/characters/{character_id}", params=params, on_done=self._loaded, on_error=self._error)
        self.bridge.get(f"/api/characters/{character_id}/loras", params=params, on_done=self._loras_loaded,
                        on_error=self._error)
        self.render_box.set_character(character_id)

    def _loaded(self, answer: dict[str, Any]) -> None:
        if answer.get("id") != self.character_id:
            return
        data, self.revision = dict(answer.get("data") or {}), answer.get("revision")
        self.id_label.setText(str(answer["id"]))
        self.name_edit.setText(data.get("name") or "")
        self.display_edit.setText(data.get("display_name") or "")
        self.description_edit.setPlainText(data.get("description") or "")
        self.appearance_edit.setPlainText(data.get("appearance") or "")
        self.style_edit.setText(data.get("style") or "")
        self.expressions_edit.setText(", ".join(data.get("expressions") or ["neutral"]))
        self._fill_defaults(data.get("default_expression"))
        self.color_edit.setText(data.get("color") or "")
        self._set_enabled(True)
        self._clean = (self.changes(), self._clean[1])
        self.status.setText(f"Editing {data.get('name') or answer['id']}")

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.name_edit, self.display_edit, self.description_edit, self.appearance_edit,
                       self.style_edit, self.expressions_edit, self.default_box, self.color_edit, self.save_button,
                       self.portrait_button, self.sprites_button, self.delete_button):
            widget.setEnabled(on)
        if not on:
            self._set_lora_enabled(False)

    def _set_lora_enabled(self, on: bool) -> None:
        """The LoRA editor is usable once the stack has loaded (an answer then would wipe edits)."""
        for widget in (self.lora_table, self.add_lora_button, self.remove_lora_button, self.save_loras_button):
            widget.setEnabled(on)

    def expressions(self) -> list[str]:
        return [label.strip() for label in self.expressions_edit.text().split(",") if label.strip()]

    def _fill_defaults(self, chosen: str | None = None) -> None:
        current = chosen if chosen is not None else self.default_box.currentText()
        self.default_box.clear()
        self.default_box.addItems([FIRST, *self.expressions()])
        index = self.default_box.findText(current or FIRST)
        self.default_box.setCurrentIndex(max(index, 0))

    def _paint_swatch(self, text: str) -> None:
        colour = text.strip() if COLOR_RE.match(text.strip()) else "transparent"
        self.color_swatch.setStyleSheet(f"background: {colour}; border: 1px solid #888;")

    # -- saving --------------------------------------------------------------------------------

    def changes(self) -> dict[str, Any]:
        """The editor's fields as a PATCH body."""
        default = self.default_box.currentText()
        return {"name": self.name_edit.text().strip(), "display_name": self.display_edit.text().strip() or None,
                "description": self.description_edit.toPlainText(), "appearance": self.appearance_edit.toPlainText(),
                "style": self.style_edit.text().strip() or None, "expressions": self.expressions(),
                "default_expression": None if default in ("", FIRST) else default,
                "color": self.color_edit.text().strip() or None}

    def save(self) -> None:
        if self.character_id is None:
            return
        body = self.changes()
        if body["color"] and not COLOR_RE.match(body["color"]):
            self.status.setText("Colour must look like #cc3355.")
            return
        params = {"project": self.project, **({"expected_revision": self.revision} if self.revision else {})}
        self.status.setText("Saving...")
        self._saving = {"fields"}
        self.bridge.call("PATCH", f"/api/characters/{self.character_id}", params=params, json_body=body,
                         on_done=self._saved, on_error=self._save_failed)
        if self._clean[0] is not None and self.loras() != self._clean[1]:
            self.save_loras()  # Save keeps everything: the LoRA stack too

    def _part_saved(self, part: str) -> None:
        """Once the fields and (if changed) the LoRA stack are stored, what waited for the save goes on."""
        if part in self._saving:
            self._saving.discard(part)
            if not self._saving:
                self.guard.saved()

    def _saved(self, answer: dict[str, Any]) -> None:
        self._loaded(answer)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == answer["id"]:
                item.setText(f"{answer['data'].get('name') or answer['id']}  ({answer['id']})")
        warnings = answer.get("warnings") or []
        self.status.setText("Saved." + (f" Warnings: {'; '.join(map(str, warnings))}" if warnings else ""))
        self._part_saved("fields")

    def _save_failed(self, error: BridgeError) -> None:
        self._saving.clear()
        self.guard.failed()
        if error.status == 409:
            self.status.setText(f"Not saved: someone else changed this character ({error.message}). "
                                "Press F5 to load their version; your edits are still in the form.")
        else:
            self._error(error)

    # -- LoRA stack ----------------------------------------------------------------------------

    def _add_lora_row(self, name: str, strength: float) -> None:
        row = self.lora_table.rowCount()
        self.lora_table.insertRow(row)
        self.lora_table.setItem(row, 0, QTableWidgetItem(name))
        spin = QDoubleSpinBox()
        spin.setRange(-100.0, 100.0)
        spin.setSingleStep(0.05)
        spin.setValue(strength)
        self.lora_table.setCellWidget(row, 1, spin)

    def _loras_loaded(self, answer: dict[str, Any]) -> None:
        if answer.get("character", self.character_id) != self.character_id:
            return
        self.lora_table.setRowCount(0)
        for entry in answer.get("loras") or []:
            self._add_lora_row(str(entry.get("name", "")), float(entry.get("strength", 1.0)))
        self._clean = (self._clean[0], self.loras())
        self._set_lora_enabled(True)

    def loras(self) -> list[dict[str, Any]]:
        stack = []
        for row in range(self.lora_table.rowCount()):
            item = self.lora_table.item(row, 0)
            name = item.text().strip() if item is not None else ""
            if name:
                stack.append({"name": name, "strength": self.lora_table.cellWidget(row, 1).value()})
        return stack

    def save_loras(self) -> None:
        if self.character_id is None:
            return
        if self._saving:
            self._saving.add("loras")
        self.bridge.call("PUT", f"/api/characters/{self.character_id}/loras", params={"project": self.project},
                         json_body={"loras": self.loras()}, on_done=self._loras_saved, on_error=self._save_failed)

    def _loras_saved(self, answer: dict[str, Any]) -> None:
        self._loras_loaded(answer)
        warnings = answer.get("warnings") or []
        self.status.setText(f"LoRA stack saved ({len(answer.get('loras') or [])})."
                            + (f" {'; '.join(map(str, warnings))}" if warnings else ""))
        self._part_saved("loras")

    # -- rendering (the render box) -------------------------------------------------------------

    def render(self, kind: str) -> None:
        """Queue a portrait or sprite render of the character as it is stored (save first)."""
        self.render_box.render(kind)

    @property
    def pending_jobs(self) -> set[str]:
        return self.render_box.pending_jobs

    def thumbnails_loaded(self) -> int:
        return self.render_box.thumbnails_loaded()

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "on_project_changed" and payload.get("project") == self.project \
                and payload.get("kind") == "character" and payload.get("action") in ("created", "deleted"):
            self.refresh(reload=False)  # keep the user's unsaved edits

    def _error(self, error: BridgeError) -> None:
        self.status.setText(f"Error: {error.message}")
