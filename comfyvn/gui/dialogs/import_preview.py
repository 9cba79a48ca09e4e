"""The result side of the Import Roleplay dialog: what an import has (or would have) made.

:class:`ImportPreview` shows a preview document (the dry run of ``POST /roleplay/import`` or the
stored ``GET /roleplay/preview/{uid}``: format, participants, synopsis, excerpt, warnings, scenes),
or the dry run of a SillyTavern folder (counts per kind), and holds the speaker-mapping table. It
does no I/O: the dialog fetches and hands the answers in.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

NEW = "(new character)"


class ImportPreview(QSplitter):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.preview: dict[str, Any] = {}
        self.stored = False  # the preview is of a stored import (not a dry run)
        self.characters: list[dict[str, Any]] = []
        self.format_label = QLabel("Format: -")
        self.format_label.setWordWrap(True)
        self.participants = QListWidget()
        self.participants.setMaximumHeight(120)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        left = QWidget()
        left_column = QFormLayout(left)
        left_column.addRow(self.format_label)
        left_column.addRow("Participants", self.participants)
        left_column.addRow("Preview", self.preview_text)
        self.mapping_hint = QLabel("Map speakers to characters")
        self.mapping_hint.setWordWrap(True)
        self.mapping = QTableWidget(0, 3)
        self.mapping.setHorizontalHeaderLabels(["Speaker", "Role", "Character"])
        self.mapping.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.mapping.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.apply_button = QPushButton("&Apply mapping  (Ctrl+M)")
        self.scenes_label = QLabel("Scenes")
        self.scenes = QListWidget()
        self.open_button = QPushButton("&Open scene  (Ctrl+Shift+O)")
        for button in (self.apply_button, self.open_button):
            button.setAutoDefault(False)
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in ((self.mapping_hint, 0), (self.mapping, 2), (self.apply_button, 0),
                                (self.scenes_label, 0), (self.scenes, 1), (self.open_button, 0)):
            right_column.addWidget(widget, stretch)
        self.addWidget(left)
        self.addWidget(right)
        self.setSizes([520, 480])
        self.set_stored(False)

    def set_stored(self, stored: bool) -> None:
        """Mapping once there are participants; Apply and Open once the import is stored."""
        self.stored = stored
        dry = bool(self.preview.get("dry_run"))
        self.mapping.setEnabled(self.mapping.rowCount() > 0)
        self.apply_button.setEnabled(stored and self.mapping.rowCount() > 0)
        self.open_button.setEnabled(stored and self.scenes.count() > 0)
        self.mapping_hint.setText("Map speakers to characters" + (" (applied right after the import)"
                                                                  if dry and not stored else ""))
        self.scenes_label.setText("Scenes the import would make" if dry else "Scenes")

    def show_preview(self, preview: dict[str, Any]) -> None:
        """A preview document ({} clears); the mapping choices made so far are kept by speaker."""
        self.preview = preview
        note = "    (preview: nothing imported yet)" if preview.get("dry_run") else ""
        self.format_label.setText(f"Format: {preview.get('format', '-')}    Lines: {preview.get('line_count', 0)}"
                                  f"    Hidden: {preview.get('hidden', 0)}{note}")
        self.participants.clear()
        for person in preview.get("participants") or []:
            aliases = f" (also {', '.join(person['aliases'])})" if person.get("aliases") else ""
            self.participants.addItem(f"{person['name']}{aliases}: {person['role']}, {person['messages']} message(s)")
        lines = [preview.get("synopsis", ""), ""]
        lines += [f"{line['speaker']}: {line['text']}" for line in preview.get("excerpt") or []]
        lines += [f"! {warning.get('message', warning)}" for warning in preview.get("warnings") or []]
        self.preview_text.setPlainText("\n".join(lines) if preview else "")
        self.scenes.clear()
        self.scenes.addItems(preview.get("scenes") or [])
        if self.scenes.count():
            self.scenes.setCurrentRow(0)
        self.fill_mapping()

    def show_folder(self, answer: dict[str, Any]) -> str:
        """The dry run of ``POST /st/import``; returns its one-line summary."""
        self.show_preview({})
        counts, plan = answer.get("counts") or {}, answer.get("plan") or {}
        self.format_label.setText(f"SillyTavern library: {plan.get('layout', '?')} layout, user "
                                  f"{plan.get('user') or '-'}")
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "nothing"
        lines = [f"Would import from {plan.get('source', '?')}: {summary}.", ""]
        lines += [f"{row['kind'] or '?'}: {row['item']}" + (" (skipped)" if row.get("status") == "skipped" else "")
                  for row in (answer.get("items") or [])[:200]]
        lines += [f"! {note}" for note in plan.get("notes") or []]
        self.preview_text.setPlainText("\n".join(lines))
        return summary

    def set_characters(self, items: list[dict[str, Any]]) -> None:
        self.characters = sorted(items, key=lambda c: str(c.get("name", c.get("id"))))
        self.fill_mapping()

    def fill_mapping(self) -> None:
        chosen = self.speaker_map()  # kept across refills (characters arriving, a new preview)
        people = [p for p in self.preview.get("participants") or [] if p.get("role") in ("character", "user")]
        names = sorted({str(c.get("name") or c["id"]) for c in self.characters})
        self.mapping.setRowCount(len(people))
        for row, person in enumerate(people):
            speaker = QTableWidgetItem(person["name"])
            speaker.setData(Qt.ItemDataRole.UserRole, [person["name"], *person.get("aliases", [])])
            speaker.setFlags(speaker.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.mapping.setItem(row, 0, speaker)
            role = QTableWidgetItem(person["role"])
            role.setFlags(role.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.mapping.setItem(row, 1, role)
            choice = QComboBox()
            choice.addItem(NEW if person["name"] not in names else f"{person['name']} (keep)")
            choice.addItems([n for n in names if n != person["name"]])
            if choice.findText(chosen.get(person["name"], "")) > 0:
                choice.setCurrentIndex(choice.findText(chosen[person["name"]]))
            self.mapping.setCellWidget(row, 2, choice)
        self.set_stored(self.stored)

    def speaker_map(self) -> dict[str, str]:
        """``{speaker name or alias: existing character name}`` for the rows mapped elsewhere."""
        mapped: dict[str, str] = {}
        for row in range(self.mapping.rowCount()):
            combo = self.mapping.cellWidget(row, 2)
            item = self.mapping.item(row, 0)
            if not isinstance(combo, QComboBox) or item is None or combo.currentIndex() == 0:
                continue
            for spoken in item.data(Qt.ItemDataRole.UserRole) or [item.text()]:
                mapped[spoken] = combo.currentText()
        return mapped
