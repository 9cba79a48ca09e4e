"""The Scenes, Characters and Timeline inspectors: one list per kind of project record with its
id, title, counts and warnings. They refresh themselves when the project changes
(``on_project_changed`` events), and a double-click (or Return) emits ``open_requested(kind, id)``
for the main window to open the record in its pane (the Timeline Workshop, the Character Designer).

Endpoints: ``GET /api/{scenes,characters,timelines}`` and ``/{id}``, ``POST /api/scenario/validate``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge

ID_ROLE = Qt.ItemDataRole.UserRole
WARN = QColor("#b9770e")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class RecordInspector(QWidget):
    """A list of one kind of record. Subclasses name the kind and say what to count and warn about."""

    open_requested = Signal(str, str)  # kind ("scene", "character", "timeline"), record id
    kind = ""
    folder = ""
    label = "title"
    watches: tuple[str, ...] = ()  # other record kinds whose changes alter this list's warnings

    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project = bridge, project
        self.details: dict[str, dict[str, Any]] = {}  # id -> {counts, warnings}
        self.refreshes = 0  # completed list loads (tests and the status line use it)
        self._generation = 0
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Id", self.label.title(), "Counts", "Warnings"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.info = QPlainTextEdit(readOnly=True)
        self.info.setPlaceholderText("Select a row for its details; double-click (or Return) opens it.")
        self.refresh_button = QPushButton("Refresh (F5)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.info)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 100])
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.refresh_button)
        column = QVBoxLayout(self)
        column.addWidget(splitter, 1)
        column.addLayout(bottom)
        self.tree.itemDoubleClicked.connect(lambda item, _column: self._open(item))
        self.tree.currentItemChanged.connect(lambda item, _old: self._describe(item))
        self.refresh_button.clicked.connect(self.refresh)
        QShortcut(QKeySequence("F5"), self, activated=self.refresh)
        QShortcut(QKeySequence(Qt.Key.Key_Return), self.tree, activated=lambda: self._open(self.tree.currentItem()))
        self._reload = QTimer(self, singleShot=True, interval=250, timeout=self.refresh)
        bridge.event.connect(self._on_event)
        QTimer.singleShot(0, self.refresh)

    def set_project(self, project: str) -> None:
        self.project = project
        self.refresh()

    # -- loading -------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._generation += 1
        generation = self._generation
        self.status.setText("Loading...")
        self.bridge.get(f"/api/{self.folder}", params={"project": self.project},
                        on_done=lambda answer: self._listed(generation, answer), on_error=self._error,
                        owner=self)

    def _listed(self, generation: int, answer: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        keep = self.current_id()
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        self.details = {}
        items = answer.get("items") or []
        for entry in items:
            row = QTreeWidgetItem([entry["id"], entry.get(self.label) or "", "...", ""])
            row.setData(0, ID_ROLE, entry["id"])
            self.tree.addTopLevelItem(row)
            if entry["id"] == keep:
                self.tree.setCurrentItem(row)
            self.bridge.get(f"/api/{self.folder}/{entry['id']}", params={"project": self.project},
                            on_done=lambda record, g=generation: self._record(g, record), on_error=self._error,
                            owner=self)
        self.tree.setSortingEnabled(True)
        for col in range(3):
            self.tree.resizeColumnToContents(col)
        self.refreshes += 1
        self.status.setText(f"{_n(len(items), self.kind)} in project {self.project}")

    def _record(self, generation: int, record: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        data = record.get("data") or {}
        counts, warnings = self.summarize(data)
        self._set_row(generation, record["id"], counts, warnings)
        self.extra_checks(generation, record["id"], data)

    def _set_row(self, generation: int, record_id: str, counts: str | None, warnings: list[str]) -> None:
        if generation != self._generation:
            return
        entry = self.details.setdefault(record_id, {"counts": "", "warnings": []})
        if counts is not None:
            entry["counts"] = counts
        entry["warnings"] = sorted(set(entry["warnings"]) | set(warnings))
        row = self.row(record_id)
        if row is None:
            return
        row.setText(2, entry["counts"])
        row.setText(3, "; ".join(entry["warnings"]))
        row.setToolTip(3, "\n".join(entry["warnings"]))
        row.setForeground(3, QBrush(WARN))
        for col in range(3):
            self.tree.resizeColumnToContents(col)
        if row is self.tree.currentItem():
            self._describe(row)

    def summarize(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        """(counts text, warnings) of one record."""
        return "", []

    def extra_checks(self, generation: int, record_id: str, data: dict[str, Any]) -> None:
        """Checks that need the server (the scene validator); results go through :meth:`_set_row`."""

    # -- rows, details, opening ----------------------------------------------------------------

    def ids(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, ID_ROLE) for i in range(self.tree.topLevelItemCount())]

    def row(self, record_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            if self.tree.topLevelItem(i).data(0, ID_ROLE) == record_id:
                return self.tree.topLevelItem(i)
        return None

    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, ID_ROLE) if item is not None else None

    def _describe(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.info.setPlainText("")
            return
        record_id = item.data(0, ID_ROLE)
        entry = self.details.get(record_id, {})
        lines = [f"{self.kind} {record_id}: {item.text(1)}", f"counts: {entry.get('counts') or '-'}"]
        lines += [f"warning: {w}" for w in entry.get("warnings") or []] or ["no warnings"]
        self.info.setPlainText("\n".join(lines))

    def _open(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.open_requested.emit(self.kind, item.data(0, ID_ROLE))

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "on_project_changed" and payload.get("project") == self.project \
                and payload.get("kind") in (self.kind, "project", *self.watches):
            self._reload.start()  # a burst of saves (an import) refreshes once

    def _error(self, error: BridgeError) -> None:
        self.status.setText(f"Error: {error.message}")


class ScenesInspector(RecordInspector):
    kind, folder, label = "scene", "scenes", "title"

    def summarize(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        nodes = data.get("nodes") or []
        choices = sum(len(node.get("choices") or []) for node in nodes)
        lines = sum(1 for node in nodes if node.get("text"))
        speakers = {node.get("speaker") for node in nodes if node.get("speaker")}
        warnings = [] if nodes else ["no nodes"]
        return (f"{_n(len(nodes), 'node')}, {_n(lines, 'line')}, {_n(choices, 'choice')}, "
                f"{_n(len(speakers), 'speaker')}"), warnings

    def extra_checks(self, generation: int, record_id: str, data: dict[str, Any]) -> None:
        def checked(report: dict[str, Any]) -> None:
            found = [f"{p.get('code')}: {p.get('message')}" for p in
                     (report.get("errors") or []) + (report.get("warnings") or [])]
            self._set_row(generation, record_id, None, found)

        self.bridge.post("/api/scenario/validate", {"scene": data}, on_done=checked, on_error=self._error,
                         owner=self)


class CharactersInspector(RecordInspector):
    kind, folder, label = "character", "characters", "name"

    def summarize(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        expressions = data.get("expressions") or ["neutral"]
        warnings = []
        if not (data.get("appearance") or "").strip():
            warnings.append("no appearance prompt: renders will be generic")
        if not data.get("color"):
            warnings.append("no name colour")
        tags = len(data.get("tags") or [])
        return f"{_n(len(expressions), 'expression')}, {_n(tags, 'tag')}", warnings


class TimelineInspector(RecordInspector):
    kind, folder, label = "timeline", "timelines", "title"
    watches = ("scene",)

    def summarize(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        scenes = data.get("scenes") or []
        return _n(len(scenes), "scene"), ([] if scenes else ["no scenes"])

    def extra_checks(self, generation: int, record_id: str, data: dict[str, Any]) -> None:
        wanted = list(data.get("scenes") or [])

        def listed(answer: dict[str, Any]) -> None:
            known = {item["id"] for item in answer.get("items") or []}
            missing = [scene for scene in wanted if scene not in known]
            self._set_row(generation, record_id, None, [f"missing scene {scene}" for scene in missing])

        if wanted:
            self.bridge.get("/api/scenes", params={"project": self.project}, on_done=listed, on_error=self._error,
                            owner=self)
