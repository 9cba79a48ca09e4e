"""Log Hub: one scrolling view of the logs the Studio can reach, with a filter and pause/follow.

Sources now:
- ``jobs`` / ``render``: the log lines of the server's jobs (``GET /jobs/logs/{id}?offset=``), tailed
  for every job the hook-bus events announce (and the latest ones from ``GET /jobs/poll`` at start);
  ``render`` is the ``render.*`` jobs only.
- ``studio``: this Studio process's own ``comfyvn`` log records (a logging handler; no file reads).

The server's log files (``<logs>/system.log``) have no HTTP endpoint yet; see docs/studio-panels.md
for the one proposed (``GET /api/logs/{name}``). Until it exists they are not shown here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge

SOURCES = {"all": "All sources", "jobs": "Job logs", "render": "Render jobs", "studio": "Studio (this app)"}
MAX_LINES = 5000
POLL_MS = 1000
RECENT_JOBS = 20
ACTIVE = ("queued", "delayed", "running")


class _Relay(QObject):
    record = Signal(str)


class StudioLogHandler(logging.Handler):
    """Hands this process's log records to the UI thread through a queued signal."""

    def __init__(self, relay: _Relay) -> None:
        super().__init__(logging.INFO)
        self.relay = relay
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.relay.record.emit(f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
                                   f"{self.format(record)}")
        except RuntimeError:  # the relay is gone (the panel was closed)
            pass


class LogsPanel(QWidget):
    """The Log Hub panel: ``LogsPanel(bridge)``."""

    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None, *, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.lines: list[tuple[str, str]] = []  # (source, text), oldest first
        self.tailed: dict[str, dict[str, Any]] = {}  # job id -> {kind, offset, state, busy}
        self.pending = 0  # lines that arrived while paused
        self.source = QComboBox()
        for key, label in SOURCES.items():
            self.source.addItem(label, key)
        self.source.currentIndexChanged.connect(self._redraw)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter (Ctrl+F): text to look for, case-insensitive")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._redraw)
        self.follow = QPushButton("Pause")
        self.follow.setCheckable(True)
        self.follow.setToolTip("Pause or follow the tail (Ctrl+P)")
        self.follow.toggled.connect(self._on_pause)
        clear = QPushButton("Clear")
        clear.setToolTip("Clear the view (Ctrl+K)")
        clear.clicked.connect(self.clear)
        self.view = QPlainTextEdit(readOnly=True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setStyleSheet("QPlainTextEdit { font-family: monospace; }")
        self.status = QLabel("server log files: no endpoint yet (showing job and Studio logs)")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.source)
        top.addWidget(self.filter, 1)
        top.addWidget(self.follow)
        top.addWidget(clear)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addWidget(self.view, 1)
        column.addWidget(self.status)
        for text, keys, slot in (("Filter", "Ctrl+F", self._focus_filter), ("Pause", "Ctrl+P", self.follow.toggle),
                                 ("Clear", "Ctrl+K", self.clear)):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
        self.relay = _Relay(self)
        self.relay.record.connect(self._studio_record)  # a bound slot: Qt disconnects it with the panel
        self.handler = StudioLogHandler(self.relay)
        logging.getLogger("comfyvn").addHandler(self.handler)
        handler = self.handler
        self.destroyed.connect(lambda *_: logging.getLogger("comfyvn").removeHandler(handler))
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)  # runs while the panel is visible; offsets keep the place
        bridge.event.connect(self._on_event)
        bridge.get("/jobs/poll", params={"limit": RECENT_JOBS}, on_done=self._got_recent,
                   on_error=self._error)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.timer.start()
        self.poll()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def _studio_record(self, text: str) -> None:
        self.add("studio", text)

    def detach(self) -> None:
        """Stop listening to this process's logging (also done when the panel is destroyed)."""
        logging.getLogger("comfyvn").removeHandler(self.handler)

    # -- lines ---------------------------------------------------------------------------------

    def add(self, source: str, text: str) -> None:
        self.lines.append((source, text))
        if len(self.lines) > MAX_LINES:
            del self.lines[: len(self.lines) - MAX_LINES]
        if self.follow.isChecked():
            self.pending += 1
            self.follow.setText(f"Follow ({self.pending} new)")
        elif self._shown(source, text):
            self.view.appendPlainText(text)

    def _shown(self, source: str, text: str) -> bool:
        wanted = self.source.currentData()
        if wanted == "render":
            if source != "jobs" or " render." not in text:
                return False
        elif wanted not in ("all", source):
            return False
        needle = self.filter.text().strip().lower()
        return not needle or needle in text.lower()

    def visible_text(self) -> str:
        return self.view.toPlainText()

    def _redraw(self) -> None:
        self.view.setPlainText("\n".join(text for source, text in self.lines if self._shown(source, text)))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

    def _on_pause(self, paused: bool) -> None:
        if paused:
            self.follow.setText("Follow")
        else:
            self.follow.setText("Pause")
            self.pending = 0
            self._redraw()

    def _focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()

    def clear(self) -> None:
        self.lines.clear()
        self.pending = 0
        self.view.clear()

    # -- job logs ------------------------------------------------------------------------------

    def _got_recent(self, answer: dict[str, Any]) -> None:
        for job in reversed(answer.get("jobs") or []):
            self.tail(job["id"], job["kind"], job["state"])

    def tail(self, job_id: str, kind: str, state: str | None = None) -> None:
        """Follow the log of a job from its first line."""
        entry = self.tailed.setdefault(job_id, {"kind": kind, "offset": 0, "state": None, "busy": False,
                                                "done": False})
        if state:
            entry["state"] = state
        entry["done"] = False  # fetch once more: lines may have come with this change
        self._fetch(job_id)

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name.startswith("on_job_") and payload.get("job_id"):
            state = payload.get("state") or ("running" if name in ("on_job_started", "on_job_progress") else None)
            self.tail(str(payload["job_id"]), str(payload.get("kind") or "job"), state)

    def poll(self) -> None:
        for job_id, entry in list(self.tailed.items()):
            if entry["state"] in ACTIVE or not entry["done"]:
                self._fetch(job_id)

    def _fetch(self, job_id: str) -> None:
        entry = self.tailed[job_id]
        if entry["busy"]:
            return
        entry["busy"] = True

        def done(answer: dict[str, Any]) -> None:
            entry["busy"] = False
            for line in answer.get("lines") or []:
                stamp = time.strftime("%H:%M:%S", time.localtime(float(line.get("ts") or 0)))
                self.add("jobs", f"{stamp} {entry['kind']} {job_id[:8]} | {line.get('line', '')}")
            entry["offset"] = int(answer.get("next_offset", entry["offset"]))
            entry["done"] = entry["state"] not in ACTIVE and not answer.get("lines")

        def failed(error: BridgeError) -> None:
            entry["busy"] = False
            entry["done"] = True  # a forgotten job (404): stop asking
            self._error(error)

        self.bridge.get(f"/jobs/logs/{job_id}", params={"offset": entry["offset"]}, on_done=done,
                        on_error=failed, owner=self)

    def _error(self, error: BridgeError) -> None:
        self.status.setText(f"error: {error.message}")
        self.status.setStyleSheet("color: #c0392b;")
