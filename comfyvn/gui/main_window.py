"""The Studio's main window: dockable panels around a centre router, a status bar with the server
state and the "Scripts" indicator, an offline banner with Retry, a progress overlay for running
jobs, tray notifications for finished and failed jobs, and the layout saved in the data folder."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import ServerBridge
from comfyvn.gui.center_router import CenterRouter

log = logging.getLogger(__name__)
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    make: Callable[[ServerBridge], QWidget]
    area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut: str | None = None


def layout_path() -> Path:
    from comfyvn.config import runtime_paths

    return runtime_paths.data_dir() / "studio" / "layout.json"


def studio_icon() -> QIcon:
    """The Studio's icon, drawn here (no image files to ship): "VN" on a rounded plum square."""
    icon = QIcon()
    for size in (16, 32, 64):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor("#6c3483"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(0, 0, size, size, size / 5, size / 5)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(7, int(size * 0.5)))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "VN")
        painter.end()
        icon.addPixmap(pixmap)
    return icon


class ScriptsIndicator(QLabel):
    """Green while scripted utilities run fine; red with the last error when one fails."""

    def __init__(self) -> None:
        super().__init__("Scripts: ok")
        self.setContentsMargins(8, 1, 8, 1)  # margins, not CSS padding: the size hint then fits the text
        self.last_error: str | None = None
        self._paint()

    def report_error(self, message: str) -> None:
        self.last_error = message
        self.setText("Scripts: error")
        self.setToolTip(message)
        self._paint()

    def clear(self) -> None:
        self.last_error = None
        self.setText("Scripts: ok")
        self.setToolTip("")
        self._paint()

    def _paint(self) -> None:
        color = "#c0392b" if self.last_error else "#27ae60"
        self.setStyleSheet(f"QLabel {{ color: white; background: {color}; border-radius: 3px; }}")


class MainWindow(QMainWindow):
    def __init__(self, bridge: ServerBridge, panels: list[Panel] | None = None) -> None:
        super().__init__()
        self.bridge = bridge
        self.setWindowTitle("ComfyVN Studio")
        self.resize(1280, 720)
        self.router = CenterRouter()
        self.banner = QWidget()
        banner_row = QHBoxLayout(self.banner)
        self.banner_text = QLabel("")
        self.banner_text.setStyleSheet("color: white;")
        retry = QPushButton("Retry")
        retry.clicked.connect(self.bridge.retry_now)
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(retry)
        self.banner.setStyleSheet("background: #a93226;")
        self.banner.hide()
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        column.addWidget(self.router, 1)
        self.setCentralWidget(centre)
        self.progress = QProgressBar()  # the overlay: shown while jobs run
        self.progress.setMaximumWidth(220)
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.server_state = QLabel("server: connecting")
        self.scripts = ScriptsIndicator()
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.server_state)
        self.statusBar().addPermanentWidget(self.scripts)
        self.setWindowIcon(studio_icon())
        self.tray = self._make_tray() if QSystemTrayIcon.isSystemTrayAvailable() else None
        self.notifications: list[tuple[str, str]] = []  # (title, text): every notification shown
        self.docks: dict[str, QDockWidget] = {}
        self._running: dict[str, float] = {}
        self._ended: list[str] = []  # the latest finished job ids, in order (for a poll answered late)
        self._ended_total = 0
        self._panel_menu = self.menuBar().addMenu("&Panels")
        self._view_menu = self.menuBar().addMenu("&View")
        for panel in panels or []:
            self.add_panel(panel)
        bridge.online_changed.connect(self._on_online)
        bridge.event.connect(self._on_event)
        self._on_online(bridge.online, bridge.base_url if bridge.online else "connecting")

    # -- panels and panes ----------------------------------------------------------------------

    def add_panel(self, panel: Panel) -> QDockWidget:
        dock = QDockWidget(panel.title, self)
        dock.setObjectName(f"dock_{panel.name}")
        dock.setWidget(panel.make(self.bridge))
        self.addDockWidget(panel.area, dock)
        self.docks[panel.name] = dock
        toggle = dock.toggleViewAction()
        if panel.shortcut:
            toggle.setShortcut(QKeySequence(panel.shortcut))
        self._panel_menu.addAction(toggle)
        return dock

    def add_pane(self, name: str, factory: Callable[[], QWidget], *, title: str, shortcut: str | None = None,
                 default: bool = False) -> None:
        self.router.register(name, factory, title=title)
        action = QAction(title, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda: self.router.show_pane(name))
        self._view_menu.addAction(action)
        if default:
            self.router.set_default(name)

    # -- server state, jobs, notifications -----------------------------------------------------

    def _on_online(self, online: bool, detail: str) -> None:
        if online:
            self.server_state.setText(f"server: online ({self.bridge.base_url})")
            self.banner.hide()
            # job events sent while offline were missed: take the running jobs from the server again
            known, ended = set(self._running), self._ended_total
            self.bridge.get("/jobs/poll", params={"state": "running", "limit": 200},
                            on_done=lambda answer: self._running_jobs(answer, known, ended), owner=self)
        else:
            self.server_state.setText("server: offline")
            self.banner_text.setText(f"The server is offline: {detail}. Retrying in the background.")
            self.banner.show()

    def _running_jobs(self, answer: dict[str, Any], known: set[str], ended: int) -> None:
        """The server's running jobs, plus those whose events came after the question (``known``: the
        jobs shown when it was asked; one of them not running any more finished while we were away),
        less those whose end was announced after it (``ended``: how many ends we had seen then)."""
        since = {job: value for job, value in self._running.items() if job not in known}
        count = self._ended_total - ended
        finished_since = set(self._ended[-count:]) if count else set()
        self._running = {str(job["id"]): float(job.get("progress") or 0.0) for job in answer.get("jobs") or []
                         if str(job["id"]) not in finished_since}
        self._running.update(since)
        self._show_progress()

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        job = str(payload.get("job_id") or "")
        if name in ("on_job_started", "on_job_progress") and job:
            self._running[job] = float(payload.get("progress") or 0.0)
        elif name == "on_job_finished" and job:
            self._running.pop(job, None)
            self._ended = [*self._ended[-499:], job]
            self._ended_total += 1
            state = payload.get("state")
            kind = payload.get("kind", "job")
            if state == "failed":
                message = payload.get("error") or "see its log"
                self.notify("Job failed", f"{kind}: {message}")
                self.scripts.report_error(f"{kind} failed: {message}")
            elif state == "succeeded":
                self.notify("Job finished", str(kind))
        self._show_progress()

    def _show_progress(self) -> None:
        if self._running:
            self.progress.setValue(int(100 * min(self._running.values())))
            self.progress.setFormat(f"{len(self._running)} job(s) %p%")
            self.progress.show()
        else:
            self.progress.hide()

    def _make_tray(self) -> QSystemTrayIcon:
        tray = QSystemTrayIcon(studio_icon(), self)
        tray.setToolTip("ComfyVN Studio")
        menu = QMenu(self)
        menu.addAction("Show the Studio", self._bring_to_front)
        menu.addAction("Quit", self.close)
        tray.setContextMenu(menu)
        tray.activated.connect(lambda reason: reason == QSystemTrayIcon.ActivationReason.Trigger
                               and self._bring_to_front())
        tray.show()
        return tray

    def _bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def notify(self, title: str, text: str) -> None:
        """A notification: the tray's balloon where the desktop has a tray, always the status bar."""
        self.notifications.append((title, text))
        if self.tray is not None and self.tray.isVisible():
            failed = "fail" in title.lower()
            icon = QSystemTrayIcon.MessageIcon.Warning if failed else QSystemTrayIcon.MessageIcon.Information
            self.tray.showMessage(title, text, icon, 10000 if failed else 5000)
        self.statusBar().showMessage(f"{title}: {text}", 8000)

    # -- layout --------------------------------------------------------------------------------

    def save_layout(self, path: Path | None = None) -> Path:
        from comfyvn.core.store import atomic_write_json

        path = path or layout_path()
        state = {"version": LAYOUT_VERSION, "pane": self.router.current,
                 "geometry": base64.b64encode(bytes(self.saveGeometry())).decode("ascii"),
                 "state": base64.b64encode(bytes(self.saveState(LAYOUT_VERSION))).decode("ascii")}
        atomic_write_json(path, state)
        return path

    def restore_layout(self, path: Path | None = None) -> bool:
        path = path or layout_path()
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            geometry = QByteArray(base64.b64decode(state["geometry"]))
            docks = QByteArray(base64.b64decode(state["state"]))
        except (OSError, ValueError, KeyError, TypeError):
            return False  # no layout yet, or an unreadable one: the default layout stays
        self.restoreGeometry(geometry)
        self.restoreState(docks, LAYOUT_VERSION)
        if state.get("pane") in self.router.names():
            self.router.show_pane(state["pane"])
        return True

    def closeEvent(self, event: Any) -> None:
        for pane in self.router.made():  # a pane with unsaved work may ask to save it first
            confirm = getattr(pane, "confirm_discard", None)
            if confirm is not None and not confirm(self.close):
                event.ignore()
                return
        try:
            self.save_layout()
        except OSError as exc:
            log.warning("the Studio layout was not saved: %s", exc)
        super().closeEvent(event)
