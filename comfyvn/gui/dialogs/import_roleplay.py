"""Import Roleplay: a chat log (or a SillyTavern data folder) -> scenes, through the server.
Steps: pick a source (choosing a file or folder previews it at once; a typed path previews with
Preview / Enter). The preview is a dry run (``POST /roleplay/import`` with ``dry_run=true``; a folder:
``POST /st/import {"path", "dry_run": true}``): the detected format, participants, excerpt and
warnings of what the import would store, with nothing written. Speakers can be mapped onto existing
characters (``GET /api/characters``) before importing. Import uploads the file (or sends the folder);
small files import in the request, large ones come back as a job whose progress follows the bridge's
``on_job_*`` events. A mapping chosen before the import is applied right after it
(``POST /roleplay/apply_corrections``), then the stored preview (``GET /roleplay/preview/{uid}``) and
the scenes are shown, and Open emits :attr:`ImportRoleplayDialog.opened` with the chosen scene id.
Importing the same file again updates the same import, so re-importing after changing options is safe.
A file is uploaded (read on the bridge's thread); a folder is only named: the SERVER reads it
(``/st/import {"path"}``), so it must be a path on the server's machine. Which one a path is goes by
what was picked (File… or Folder…); a typed path is a file when it ends in a chat-log extension
(``CHAT_SUFFIXES``), else the server gets it as a path. The disk is never asked (it could hang the UI
on a network mount). Answers arriving after the dialog was deleted (WA_DeleteOnClose) are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.dialogs.import_preview import ImportPreview

CHAT_SUFFIXES = (".jsonl", ".json", ".txt", ".log", ".md", ".html", ".htm", ".png")
CHAT_FILTER = f"Chat logs ({' '.join('*' + s for s in CHAT_SUFFIXES)});;All files (*)"


class ImportRoleplayDialog(QDialog):
    opened = Signal(str)  # a scene id: the lead routes it to the VN Viewer
    imported = Signal(dict)  # the import summary (roleplay) or report (SillyTavern folder)

    def __init__(self, bridge: ServerBridge, project: str = "default", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Import Roleplay")
        self.resize(1000, 640)
        self.job_id: str | None = None  # the import job under way; last_job_id: the latest one
        self.last_job_id: str | None = None
        self.uid: str | None = None  # the stored import (None while only previewed)
        self.summary: dict[str, Any] | None = None
        self.pending_map: dict[str, str] = {}  # chosen before the import: applied once it is done
        self._previewed = ""  # the path the dry-run preview is of
        self._picked: tuple[str, str] = ("", "")  # (path, "file" or "folder") from the File…/Folder… buttons
        self._preview_seq = 0  # answers of an older preview are dropped
        self._finished_jobs: dict[str, dict[str, Any]] = {}  # job events that came before the 202 answer
        self._build(project)
        bridge.event.connect(self._on_event)

    # -- layout ---------------------------------------------------------------------------------

    def _build(self, project: str) -> None:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a chat log file, or a SillyTavern data folder (on the server machine)")
        self.file_button = QPushButton("&File…")
        self.folder_button = QPushButton("F&older…")
        self.preview_button = QPushButton("&Preview  (Ctrl+P)")
        self.preview_button.setDefault(True)  # Enter in the path field previews
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button.clicked.connect(self.choose_folder)
        self.preview_button.clicked.connect(self.start_preview)
        source = QHBoxLayout()
        source.addWidget(self.path_edit, 1)
        for button in (self.file_button, self.folder_button, self.preview_button):
            source.addWidget(button)
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
        self.import_button.setAutoDefault(False)
        self.import_button.clicked.connect(self.start_import)
        options.addWidget(self.import_button)
        for changed in (self.detail_combo.currentTextChanged, self.swipes_check.toggled,
                        self.overwrite_check.toggled, self.project_edit.editingFinished):
            changed.connect(self._options_changed)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status = QLabel("Pick a chat log (Ctrl+O) or a SillyTavern folder to preview it, then Import.")
        self.status.setWordWrap(True)

        self.view = ImportPreview()
        self.view.apply_button.clicked.connect(self.apply_mapping)
        self.view.open_button.clicked.connect(self.open_scene)
        self.view.scenes.itemDoubleClicked.connect(lambda _item: self.open_scene())
        for name in ("format_label", "participants", "preview_text", "mapping", "apply_button", "scenes",
                     "open_button"):
            setattr(self, name, getattr(self.view, name))  # the widgets tests and callers drive

        column = QVBoxLayout(self)
        column.addLayout(source)
        column.addLayout(options)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.view, 1)
        for keys, slot in (("Ctrl+O", self.choose_file), ("Ctrl+Shift+F", self.choose_folder),
                           ("Ctrl+P", self.start_preview), ("Ctrl+Return", self.start_import),
                           ("Ctrl+Enter", self.start_import), ("Ctrl+Shift+O", self.open_scene),
                           ("Ctrl+M", self.apply_mapping)):
            QShortcut(QKeySequence(keys), self, activated=slot)

    @property
    def preview(self) -> dict[str, Any]:
        """The preview shown: a dry run (``"dry_run": true``) or the stored import's."""
        return self.view.preview

    def speaker_map(self) -> dict[str, str]:
        return self.view.speaker_map()

    def _busy(self, busy: bool) -> None:
        self.import_button.setEnabled(not busy)
        self.preview_button.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def _error(self, error: BridgeError) -> None:
        self._busy(False)
        self._say(f"Error: {error.message}", "#c0392b")

    def _say(self, text: str, color: str = "") -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};" if color else "")

    def _send_file(self, url: str, field: str, path: str, form: dict[str, Any], on_done: Any, on_error: Any) -> None:
        """Upload ``path`` as ``field``; the bridge opens and reads the file on its own thread."""
        data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()}
        self.bridge.call("POST", url, files={field: Path(path)}, data=data, on_done=on_done, on_error=on_error,
                         owner=self)

    # -- choosing and previewing ----------------------------------------------------------------

    def choose_file(self) -> None:
        self._pick(QFileDialog.getOpenFileName(self, "Import a chat log", "", CHAT_FILTER)[0], "file")

    def choose_folder(self) -> None:
        self._pick(QFileDialog.getExistingDirectory(self, "A SillyTavern data folder (data/default-user)"), "folder")

    def _pick(self, path: str, kind: str) -> None:
        if path:
            self._picked = (path, kind)
            self.path_edit.setText(path)
            self.start_preview()

    def is_folder(self, path: str) -> bool:
        """Whether the server reads ``path`` (not an upload): as picked, else by its extension; no disk I/O."""
        if path == self._picked[0]:
            return self._picked[1] == "folder"
        return not path.lower().endswith(CHAT_SUFFIXES)

    def project(self) -> str:
        return self.project_edit.text().strip() or "default"

    def _fields(self) -> dict[str, Any]:
        return {"project": self.project(), "detail_level": self.detail_combo.currentText(),
                "swipes_as_choices": self.swipes_check.isChecked(), "overwrite": self.overwrite_check.isChecked()}

    def _options_changed(self, *_args: Any) -> None:
        if self.preview.get("dry_run") and self._previewed == self.path_edit.text().strip() and not self.uid:
            self.start_preview()  # the scenes and conflicts depend on the options

    def _chosen_path(self) -> str:
        """The path typed or picked; empty (and the user told to pick one) when there is none."""
        path = self.path_edit.text().strip()
        if not path:
            self._say("Pick a chat log or a SillyTavern folder first.")
        return path

    def start_preview(self) -> None:
        """Dry-run the import of the chosen path: what it would store, nothing written."""
        path = self._chosen_path()
        if not path:
            return
        if not self.preview_button.isEnabled():
            return  # an import is under way
        self._preview_seq += 1
        seq, self._previewed = self._preview_seq, path
        self.uid = self.summary = None
        self.view.set_stored(False)

        def current(callback: Any) -> Any:
            return lambda value: callback(value) if seq == self._preview_seq else None

        self._say(f"Previewing {os.path.basename(path) or path}…")
        if self.is_folder(path):
            self.bridge.post("/st/import", {**self._fields(), "path": path, "dry_run": True}, owner=self,
                             on_done=current(self._on_folder_preview), on_error=current(self._error))
        else:
            self._send_file("/roleplay/import", "file", path, {**self._fields(), "dry_run": True},
                            current(self._on_dry_run), current(self._on_preview_error))

    def _on_preview_error(self, error: BridgeError) -> None:
        self._show_preview({})
        if error.code == "not_a_chat" and (error.details or {}).get("kind") in ("card", "world", "personas"):
            self._say(f"{error.message.split(':')[0]}. Import sends it to the SillyTavern library importer.")
        else:
            self._error(error)

    def _on_dry_run(self, preview: dict[str, Any]) -> None:
        self._show_preview(preview)
        self._load_characters()
        people = len(preview.get("participants") or [])
        text = (f"Preview (nothing imported yet): {people} participant(s), {len(preview.get('scenes') or [])} "
                "scene(s). Map speakers if you like, then Import (Ctrl+Enter).")
        conflict = preview.get("conflict")
        if conflict:
            self._say(f"{text} Warning: {conflict.get('message')}", "#b9770e")
        else:
            self._say(text + (" It updates the earlier import of this chat." if preview.get("exists") else ""))

    def _on_folder_preview(self, answer: dict[str, Any]) -> None:
        summary = self.view.show_folder(answer)
        self.view.set_stored(False)
        self._say(f"Preview (nothing imported yet): {summary}. Import (Ctrl+Enter) imports them; the chats "
                  "can be opened afterwards.")

    # -- importing ------------------------------------------------------------------------------

    def start_import(self) -> None:
        path = self._chosen_path()
        if not path:
            return
        if not self.import_button.isEnabled():
            return  # one import at a time
        previewed = self.preview.get("dry_run") and self._previewed == path
        self.pending_map = self.speaker_map() if previewed else {}
        self._preview_seq += 1  # a preview still under way is of no use now
        self._busy(True)
        self.job_id = None
        if self.is_folder(path):  # read by the server: a folder on this machine is the server's when local
            self._say(f"Importing the SillyTavern library in {path}…")
            self.bridge.post("/st/import", {**self._fields(), "path": path}, on_done=self._on_answer,
                             on_error=self._error, owner=self)
            return
        self._say(f"Uploading {os.path.basename(path)}…")
        self._send_file("/roleplay/import", "file", path, self._fields(), self._on_answer, self._on_import_error)

    def _on_import_error(self, error: BridgeError) -> None:
        if error.code == "not_a_chat" and (error.details or {}).get("kind") in ("card", "world", "personas"):
            path = self.path_edit.text().strip()  # a card or lorebook: the library importer takes it
            self._say(f"{os.path.basename(path)} is not a chat; importing it as a SillyTavern file…")
            self._send_file("/st/import", "files", path, {"project": self.project()}, self._on_answer, self._error)
            return
        self._error(error)

    def _on_answer(self, answer: dict[str, Any]) -> None:
        if answer.get("queued") and answer.get("job_id"):
            self.job_id = self.last_job_id = str(answer["job_id"])
            self._say(f"Importing as job {self.job_id}…")
            if self.job_id in self._finished_jobs:
                self._job_finished(self._finished_jobs.pop(self.job_id))
            else:  # it may have finished before we knew its id
                self.bridge.get(f"/jobs/{self.job_id}", on_done=self._on_job_state, on_error=self._error, owner=self)
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
            self.bridge.get(f"/jobs/{job}", on_error=self._error, owner=self,
                            on_done=lambda a: self._show_result((a.get("job") or {}).get("result") or {}))

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
            self.uid, self.pending_map = (chats[0] if chats else None), {}
        else:
            self.uid = summary.get("uid")
            warnings = summary.get("warnings") or []
            self._say(f"Imported {summary.get('messages', 0)} message(s) into {len(summary.get('scenes') or [])} "
                      f"scene(s)" + (f"; {len(warnings)} warning(s)" if warnings else "") + ".")
        if self.uid and self.pending_map:  # the mapping chosen in the preview
            self._send_mapping(self.pending_map)
        elif self.uid:
            self.load_preview()
        else:
            self._show_preview({})

    def load_preview(self) -> None:
        if not self.uid:
            return
        self.bridge.get(f"/roleplay/preview/{self.uid}", params={"project": self.project()},
                        on_done=self._show_preview, on_error=self._error, owner=self)
        self._load_characters()

    def _load_characters(self) -> None:
        self.bridge.get("/api/characters", params={"project": self.project()},
                        on_done=lambda answer: self.view.set_characters(answer.get("items") or []),
                        on_error=self._error, owner=self)

    def _show_preview(self, preview: dict[str, Any]) -> None:
        self.view.show_preview(preview)
        self.view.set_stored(bool(self.uid) and not preview.get("dry_run"))

    def apply_mapping(self) -> None:
        if not self.uid:
            if self.preview.get("dry_run"):
                self._say("The mapping is applied right after the import: Import (Ctrl+Enter).")
            return
        speakers = self.speaker_map()
        if not speakers:
            self._say("Nothing to map: every speaker keeps its own character.")
            return
        self._send_mapping(speakers)

    def _send_mapping(self, speakers: dict[str, str]) -> None:
        self._say(f"Re-making the scenes with {len(speakers)} mapped speaker name(s)…")
        self.bridge.post("/roleplay/apply_corrections", {"project": self.project(), "uid": self.uid,
                                                         "speakers": speakers,
                                                         "overwrite": self.overwrite_check.isChecked()},
                         on_done=self._on_mapped, on_error=self._error, owner=self)

    def _on_mapped(self, summary: dict[str, Any]) -> None:
        self.summary, self.pending_map = summary, {}
        self._say(f"Mapped; {len(summary.get('scenes') or [])} scene(s) re-made.")
        self.load_preview()

    def open_scene(self) -> None:
        item = self.scenes.currentItem()
        if item is None or not self.uid:
            self._say("No scene to open yet: import a chat first.")
            return
        self.opened.emit(item.text())
