"""Import Roleplay: a chat log (or a SillyTavern data folder) -> scenes, through the server.

Steps: pick a source, Import (``POST /roleplay/import`` uploads the file; ``POST /st/import`` takes a
folder on the server machine); small files import in the request, large ones come back as a job
whose progress follows the bridge's ``on_job_*`` events. Then the dialog shows the detected format,
participants and a preview (``GET /roleplay/preview/{uid}``), lets the user map each speaker onto an
existing character (``GET /api/characters``, applied with ``POST /roleplay/apply_corrections``), and
Open emits :attr:`ImportRoleplayDialog.opened` with the chosen scene id.

The server has no dry-run: the preview is of the stored import. Importing the same file again
updates the same import, so re-importing after changing options is safe.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge

NEW = "(new character)"
CHAT_FILTER = "Chat logs (*.jsonl *.json *.txt *.log *.md *.html *.png);;All files (*)"


class ImportRoleplayDialog(QDialog):
    opened = Signal(str)  # a scene id: the lead routes it to the VN Viewer
    imported = Signal(dict)  # the import summary (roleplay) or report (SillyTavern folder)

    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Import Roleplay")
        self.resize(1000, 640)
        self.job_id: str | None = None
        self.last_job_id: str | None = None
        self.uid: str | None = None
        self.summary: dict[str, Any] | None = None
        self.characters: list[dict[str, Any]] = []
        self.preview: dict[str, Any] = {}
        self._finished_jobs: dict[str, dict[str, Any]] = {}  # job events that came before the 202 answer
        self._upload: Any = None
        self._build(project)
        bridge.event.connect(self._on_event)

    # -- layout ---------------------------------------------------------------------------------

    def _build(self, project: str) -> None:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a chat log file, or a SillyTavern data folder (on the server machine)")
        self.file_button = QPushButton("&File…")
        self.folder_button = QPushButton("F&older…")
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button.clicked.connect(self.choose_folder)
        source = QHBoxLayout()
        source.addWidget(self.path_edit, 1)
        source.addWidget(self.file_button)
        source.addWidget(self.folder_button)
        self.project_edit = QLineEdit(project)
        self.detail_combo = QComboBox()
        self.detail_combo.addItems(["low", "medium", "high"])
        self.detail_combo.setCurrentText("medium")
        self.swipes_check = QCheckBox("Swipes as choices")
        self.overwrite_check = QCheckBox("Overwrite edits")
        options = QHBoxLayout()
        for label, widget in (("Project", self.project_edit), ("Detail", self.detail_combo)):
            options.addWidget(QLabel(label))
            options.addWidget(widget)
        options.addWidget(self.swipes_check)
        options.addWidget(self.overwrite_check)
        options.addStretch(1)
        self.import_button = QPushButton("&Import  (Ctrl+Enter)")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start_import)
        options.addWidget(self.import_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status = QLabel("Pick a chat log (Ctrl+O) or a SillyTavern folder, then Import.")
        self.status.setWordWrap(True)

        self.format_label = QLabel("Format: -")
        self.participants = QListWidget()
        self.participants.setMaximumHeight(120)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        left = QWidget()
        left_column = QFormLayout(left)
        left_column.addRow(self.format_label)
        left_column.addRow("Participants", self.participants)
        left_column.addRow("Preview", self.preview_text)
        self.mapping = QTableWidget(0, 3)
        self.mapping.setHorizontalHeaderLabels(["Speaker", "Role", "Character"])
        self.mapping.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.mapping.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.apply_button = QPushButton("&Apply mapping")
        self.apply_button.clicked.connect(self.apply_mapping)
        self.scenes = QListWidget()
        self.scenes.itemDoubleClicked.connect(lambda _item: self.open_scene())
        self.open_button = QPushButton("&Open scene  (Ctrl+Shift+O)")
        self.open_button.clicked.connect(self.open_scene)
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.addWidget(QLabel("Map speakers to characters"))
        right_column.addWidget(self.mapping, 2)
        right_column.addWidget(self.apply_button)
        right_column.addWidget(QLabel("Scenes"))
        right_column.addWidget(self.scenes, 1)
        right_column.addWidget(self.open_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([520, 480])

        column = QVBoxLayout(self)
        column.addLayout(source)
        column.addLayout(options)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(split, 1)
        for keys, slot in (("Ctrl+O", self.choose_file), ("Ctrl+Shift+F", self.choose_folder),
                           ("Ctrl+Return", self.start_import), ("Ctrl+Enter", self.start_import),
                           ("Ctrl+Shift+O", self.open_scene), ("Ctrl+M", self.apply_mapping)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self._set_result_enabled(False)

    def _set_result_enabled(self, enabled: bool) -> None:
        for widget in (self.apply_button, self.open_button, self.mapping):
            widget.setEnabled(enabled)

    def _busy(self, busy: bool) -> None:
        self.import_button.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def _error(self, error: BridgeError) -> None:
        self._close_upload()
        self._busy(False)
        self.status.setText(f"Error: {error.message}")
        self.status.setStyleSheet("color: #c0392b;")

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("")

    # -- choosing and importing -----------------------------------------------------------------

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a chat log", "", CHAT_FILTER)
        if path:
            self.path_edit.setText(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A SillyTavern data folder (e.g. data/default-user)")
        if path:
            self.path_edit.setText(path)

    def project(self) -> str:
        return self.project_edit.text().strip() or "default"

    def start_import(self) -> None:
        path = self.path_edit.text().strip()
        if not path:
            self._say("Pick a chat log or a SillyTavern folder first.")
            return
        if not self.import_button.isEnabled():
            return  # one import at a time
        self._busy(True)
        self.job_id = None
        fields = {"project": self.project(), "detail_level": self.detail_combo.currentText(),
                  "swipes_as_choices": self.swipes_check.isChecked(), "overwrite": self.overwrite_check.isChecked()}
        if os.path.isdir(path):  # a folder on this machine = the server's when it runs locally
            self._say(f"Importing the SillyTavern library in {path}…")
            self.bridge.post("/st/import", {**fields, "path": path}, on_done=self._on_answer, on_error=self._error)
            return
        self._say(f"Uploading {os.path.basename(path)}…")
        try:
            self._upload = open(path, "rb")  # noqa: SIM115 - the bridge's thread reads it; closed on the answer
        except OSError as exc:
            self._error(BridgeError(f"cannot open {path}: {exc.strerror or exc}"))
            return
        form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
        self.bridge.call("POST", "/roleplay/import", files={"file": (os.path.basename(path), self._upload)},
                         data=form, on_done=self._on_answer, on_error=self._on_import_error)

    def _on_import_error(self, error: BridgeError) -> None:
        if error.code == "not_a_chat" and (error.details or {}).get("kind") in ("card", "world", "personas"):
            path = self.path_edit.text().strip()  # a card or lorebook: the library importer takes it
            self._close_upload()
            self._say(f"{os.path.basename(path)} is not a chat; importing it as a SillyTavern file…")
            self._upload = open(path, "rb")  # noqa: SIM115
            self.bridge.call("POST", "/st/import", files={"files": (os.path.basename(path), self._upload)},
                             data={"project": self.project()}, on_done=self._on_answer, on_error=self._error)
            return
        self._error(error)

    def _close_upload(self) -> None:
        if self._upload is not None:
            self._upload.close()
            self._upload = None

    def _on_answer(self, answer: dict[str, Any]) -> None:
        self._close_upload()
        if answer.get("queued") and answer.get("job_id"):
            self.job_id = self.last_job_id = str(answer["job_id"])
            self._say(f"Importing as job {self.job_id}…")
            if self.job_id in self._finished_jobs:
                self._job_finished(self._finished_jobs.pop(self.job_id))
            else:  # it may have finished before we knew its id
                self.bridge.get(f"/jobs/{self.job_id}", on_done=self._on_job_state, on_error=self._error)
            return
        self._show_result(answer)

    def _on_job_state(self, answer: dict[str, Any]) -> None:
        job = answer.get("job") or {}
        if job.get("id") == self.job_id and job.get("state") in ("succeeded", "failed", "cancelled"):
            self._job_finished({"state": job["state"], "error": job.get("error"), "result": job.get("result")})

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        job = str(payload.get("job_id") or "")
        if not job or not name.startswith("on_job_"):
            return
        if name == "on_job_finished" and self.job_id is None and not self.import_button.isEnabled():
            self._finished_jobs[job] = payload
        if job != self.job_id:
            return
        if name == "on_job_progress" and payload.get("progress") is not None:
            self.progress.setValue(int(100 * float(payload["progress"])))
            if payload.get("message"):
                self._say(f"Job {job}: {payload['message']}")
        elif name == "on_job_finished":
            self._job_finished(payload)

    def _job_finished(self, payload: dict[str, Any]) -> None:
        job, self.job_id = self.job_id, None
        if job is None:
            return  # already handled (the event and the catch-up answer both arrived)
        if payload.get("state") != "succeeded":
            self._error(BridgeError(f"the import job {payload.get('state')}: {payload.get('error') or 'see its log'}"))
            return
        if isinstance(payload.get("result"), dict):
            self._show_result(payload["result"])
        else:
            self.bridge.get(f"/jobs/{job}", on_done=lambda a: self._show_result((a.get("job") or {}).get("result")
                                                                                or {}), on_error=self._error)

    # -- showing the result ---------------------------------------------------------------------

    def _show_result(self, summary: dict[str, Any]) -> None:
        self._busy(False)
        self.summary = summary
        self.imported.emit(summary)
        if "items" in summary:  # a SillyTavern library report: the chats among its items
            rows = summary["items"]
            chats = [r["id"] for r in rows if r.get("kind") == "chat" and r.get("status") == "ok" and r.get("id")]
            failed = [r for r in rows if r.get("status") == "error"]
            counts = summary.get("counts") or {}
            text = f"Imported {counts.get('ok', 0)} of {len(rows)} item(s); {len(chats)} chat(s)."
            if failed:
                text += " Failed: " + "; ".join(f"{r['item']}: {(r.get('error') or {}).get('message')}"
                                                for r in failed[:3])
            self._say(text)
            self.uid = chats[0] if chats else None
        else:
            self.uid = summary.get("uid")
            warnings = summary.get("warnings") or []
            self._say(f"Imported {summary.get('messages', 0)} message(s) into {len(summary.get('scenes') or [])} "
                      f"scene(s)" + (f"; {len(warnings)} warning(s)" if warnings else "") + ".")
        if self.uid:
            self.load_preview()

    def load_preview(self) -> None:
        if not self.uid:
            return
        self.bridge.get(f"/roleplay/preview/{self.uid}", params={"project": self.project()},
                        on_done=self._on_preview, on_error=self._error)
        self.bridge.get("/api/characters", params={"project": self.project()},
                        on_done=self._on_characters, on_error=self._error)

    def _on_preview(self, preview: dict[str, Any]) -> None:
        self.preview = preview
        self.format_label.setText(f"Format: {preview.get('format', '?')}    Lines: {preview.get('line_count', 0)}"
                                  f"    Hidden: {preview.get('hidden', 0)}")
        self.participants.clear()
        for person in preview.get("participants") or []:
            aliases = f" (also {', '.join(person['aliases'])})" if person.get("aliases") else ""
            self.participants.addItem(f"{person['name']}{aliases}: {person['role']}, {person['messages']} message(s)")
        lines = [preview.get("synopsis", ""), ""]
        lines += [f"{line['speaker']}: {line['text']}" for line in preview.get("excerpt") or []]
        for warning in preview.get("warnings") or []:
            lines.append(f"! {warning.get('message', warning)}")
        self.preview_text.setPlainText("\n".join(lines))
        self.scenes.clear()
        self.scenes.addItems(preview.get("scenes") or [])
        if self.scenes.count():
            self.scenes.setCurrentRow(0)
        self._fill_mapping()

    def _on_characters(self, answer: dict[str, Any]) -> None:
        self.characters = sorted(answer.get("items") or [], key=lambda c: str(c.get("name", c.get("id"))))
        self._fill_mapping()

    def _fill_mapping(self) -> None:
        people = [p for p in self.preview.get("participants") or []
                  if p.get("role") in ("character", "user")]
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
            self.mapping.setCellWidget(row, 2, choice)
        self._set_result_enabled(bool(self.uid))

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

    def apply_mapping(self) -> None:
        if not self.uid:
            return
        speakers = self.speaker_map()
        if not speakers:
            self._say("Nothing to map: every speaker keeps its own character.")
            return
        self._say("Re-making the scenes with the mapped speakers…")
        self.bridge.post("/roleplay/apply_corrections", {"project": self.project(), "uid": self.uid,
                                                         "speakers": speakers,
                                                         "overwrite": self.overwrite_check.isChecked()},
                         on_done=self._on_mapped, on_error=self._error)

    def _on_mapped(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self._say(f"Mapped; {len(summary.get('scenes') or [])} scene(s) re-made.")
        self.load_preview()

    def open_scene(self) -> None:
        item = self.scenes.currentItem()
        if item is None:
            self._say("No scene to open yet: import a chat first.")
            return
        self.opened.emit(item.text())
