"""The Character Designer's render box: provider, Portrait / Sprites, a progress bar and the pictures.

Renders run as jobs (``POST /api/characters/render``); progress follows ``on_job_progress``, and when
``on_job_finished`` says ``succeeded`` the job's assets (``GET /jobs/{id}``) appear at the front with
their thumbnails. Opening a character shows its earlier renders (``GET /assets?tags=<id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.panels.assets import icon_grid, load_thumbnail

ID_ROLE = Qt.ItemDataRole.UserRole
THUMB = 112


class RenderBox(QGroupBox):
    """``report(text)`` shows progress and errors (the pane's status line)."""

    def __init__(self, bridge: ServerBridge, project: str, report: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__("Render", parent)
        self.bridge, self.project, self._report = bridge, project, report
        self.character_id: str | None = None
        self.pending_jobs: set[str] = set()
        self._finished_early: dict[str, dict[str, Any]] = {}  # job events that beat the POST answer
        self.shown_assets: list[str] = []
        self.provider_box = QComboBox()
        self.provider_box.addItems(["auto", "builtin", "comfyui"])
        self.portrait_button = QPushButton("Portrait")
        self.portrait_button.setToolTip("Render a portrait of the stored character (Ctrl+Shift+R)")
        self.sprites_button = QPushButton("Sprites")
        self.sprites_button.setToolTip("Render a sprite per expression of the stored character (Ctrl+R)")
        self.progress = QProgressBar(maximum=100, visible=False)
        self.renders = icon_grid(THUMB, extra_height=36)
        self.renders.setMinimumSize(THUMB + 40, 60)
        column = QVBoxLayout(self)
        for pair in ((QLabel("Provider"), self.provider_box), (self.portrait_button, self.sprites_button)):
            row = QHBoxLayout()
            for widget in pair:
                row.addWidget(widget)
            column.addLayout(row)
        column.addWidget(self.progress)
        column.addWidget(self.renders, 1)
        self.portrait_button.clicked.connect(lambda: self.render("portrait"))
        self.sprites_button.clicked.connect(lambda: self.render("sprites"))
        bridge.event.connect(self._on_event)

    def set_character(self, character_id: str | None) -> None:
        """Show ``character_id``'s earlier renders (None: nothing)."""
        self.character_id = character_id
        self.renders.clear()
        self.shown_assets = []
        if character_id is not None:
            self.bridge.get("/assets", params={"project": self.project, "tags": character_id.lower(), "limit": 60},
                            on_done=lambda answer, cid=character_id: self._earlier_renders(cid, answer),
                            on_error=self._error, owner=self)

    def render(self, kind: str) -> None:
        """Queue a portrait or sprite render of the character as it is stored (save first)."""
        if self.character_id is None:
            return
        body = {"project": self.project, "character_id": self.character_id, "kind": kind,
                "provider": self.provider_box.currentText()}
        self._report(f"Queueing a {kind} render...")
        self.bridge.post("/api/characters/render", body, on_done=self._queued, on_error=self._error, owner=self)

    def _queued(self, answer: dict[str, Any]) -> None:
        jobs = [job["job_id"] for job in answer.get("jobs") or []]
        self.pending_jobs.update(jobs)
        self.progress.setValue(0)
        self.progress.show()
        self._report(f"Rendering ({len(jobs)} job(s))...")
        for job in jobs:
            if job in self._finished_early:
                self._job_finished(self._finished_early.pop(job))

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        job = str(payload.get("job_id") or "")
        if name == "on_job_progress" and job in self.pending_jobs:
            self.progress.setValue(int(100 * float(payload.get("progress") or 0.0)))
            if payload.get("message"):
                self._report(f"Rendering: {payload['message']}")
        elif name == "on_job_finished" and str(payload.get("kind", "")).startswith("render."):
            if job in self.pending_jobs:
                self._job_finished(payload)
            else:
                self._finished_early[job] = payload
                while len(self._finished_early) > 50:
                    self._finished_early.pop(next(iter(self._finished_early)))

    def _job_finished(self, payload: dict[str, Any]) -> None:
        job = str(payload["job_id"])
        self.pending_jobs.discard(job)
        if not self.pending_jobs:
            self.progress.hide()
        if payload.get("state") == "succeeded":
            self.bridge.get(f"/jobs/{job}", on_done=self._job_result, on_error=self._error, owner=self)
        else:
            self._report(f"Render {payload.get('state')}: {payload.get('error') or 'see the Task Manager'}")

    def _job_result(self, answer: dict[str, Any]) -> None:
        assets = ((answer.get("job") or {}).get("result") or {}).get("assets") or []
        for asset in assets:
            self._show_asset(asset, front=True)
        self._report(f"Rendered {len(assets)} picture(s).")

    def _earlier_renders(self, character_id: str, answer: dict[str, Any]) -> None:
        if character_id != self.character_id:
            return
        for asset in answer.get("items") or []:
            if str(asset.get("type", "")).startswith("character."):
                self._show_asset(asset)

    def _show_asset(self, asset: dict[str, Any], *, front: bool = False) -> None:
        uid = asset["uid"]
        if uid in self.shown_assets:
            return
        meta = asset.get("meta") or {}
        label = meta.get("expression") or asset.get("path", uid).rsplit("/", 1)[-1]
        item = QListWidgetItem(f"{label}\n{asset.get('type', '').split('.')[-1]}")
        item.setData(ID_ROLE, uid)
        item.setToolTip(f"{asset.get('path')}\nuid {uid}")
        if front:
            self.renders.insertItem(0, item)
            self.shown_assets.insert(0, uid)
        else:
            self.renders.addItem(item)
            self.shown_assets.append(uid)
        load_thumbnail(self.bridge, self.project, uid, lambda pixmap, uid=uid: self._thumbnail(uid, pixmap),
                       self._error, owner=self)

    def _thumbnail(self, uid: str, pixmap: QPixmap) -> None:
        # look the item up again: the list may have been cleared (another character) meanwhile
        for row in range(self.renders.count()):
            item = self.renders.item(row)
            if item.data(ID_ROLE) == uid:
                item.setIcon(QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation)))

    def thumbnails_loaded(self) -> int:
        return sum(1 for row in range(self.renders.count()) if not self.renders.item(row).icon().isNull())

    def _error(self, error: BridgeError) -> None:
        self._report(f"Error: {error.message}")
