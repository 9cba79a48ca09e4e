"""Log Hub: one scrolling view of the logs the Studio can reach, with sources, a filter and pause/follow.

Sources: ``system`` = the server's ``system.log`` (``GET /api/logs/system.log``, tailed by byte
offset); ``server`` = its ``comfyvn.server.*`` / ``uvicorn.*`` records; ``render`` = the ``render.*``
jobs' log lines plus system.log's ``comfyvn.render.*`` records and render job failures; ``gui`` =
``<logs>/gui.log`` (what Studios wrote with ``comfyvn.core.logs.add_log_file``, read through the
server); ``jobs`` = job log lines (``GET /jobs/logs/{id}?offset=``) of the jobs the hook bus
announces and the latest ones at start; ``studio`` = this process's ``comfyvn`` records (a logging
handler); ``file`` = any other file of ``GET /api/logs`` (the file box, F5 refreshes it). ``all`` is
system + jobs + studio (gui.log repeats the studio records; a picked file stays apart).

Files are polled once a second from ``next_offset``, only while the panel is visible and following.
JSON lines are shown as ``HH:MM:SS LEVEL logger: event key=value`` (``comfyvn.core.logs.readable_line``).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from comfyvn.core.logs import readable_line
from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.panels import on_screen
from comfyvn.gui.panels.assets import scrolling
from comfyvn.gui.widgets import StatusLine, shortcut_action

SOURCES = {"all": "All sources", "system": "System log", "server": "Server", "render": "Render",
           "gui": "GUI log (gui.log)", "jobs": "Job logs", "studio": "Studio (this app)", "file": "Other file"}
FILES = {"system.log": "system", "gui.log": "gui"}  # tailed whenever they exist
MAX_LINES = 5000
POLL_MS = 1000
LISTING_EVERY = 10  # polls between two GET /api/logs
FIRST_TAIL = 500  # lines read back when a file is first opened
RECENT_JOBS = 20
ACTIVE = ("queued", "delayed", "running")
SERVER_LOGGERS = ("comfyvn.server", "uvicorn")


def tags_of(source: str, logger: str, context: dict[str, Any]) -> frozenset[str]:
    tags = {source}
    if source == "system":
        if logger.startswith(SERVER_LOGGERS):
            tags.add("server")
        if logger.startswith("comfyvn.render") or str(context.get("job_kind", "")).startswith("render."):
            tags.add("render")
    return frozenset(tags)


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

    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None, *, poll_ms: int = POLL_MS,
                 max_lines: int = MAX_LINES) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.max_lines = max_lines
        self.lines: list[tuple[frozenset[str], str]] = []  # (tags, text), oldest first
        self.tailed: dict[str, dict[str, Any]] = {}  # job id -> {kind, offset, state, busy, done}
        self.files: dict[str, dict[str, Any]] = {}  # log file name -> {source, offset, busy}
        self.listing: list[dict[str, Any]] = []  # the last GET /api/logs answer
        self.polls = 0
        self.failed = False  # an error is shown in the status line
        self.pending = 0  # lines that arrived while paused
        self.source = QComboBox()
        for key, label in SOURCES.items():
            self.source.addItem(label, key)
        self.source.setToolTip("Which logs to show (Alt+1..8)")
        self.source.currentIndexChanged.connect(self._on_source)
        self.picker = QComboBox()
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(14)
        self.picker.setToolTip("Any log file of the server (F5 refreshes the list)")
        self.picker.activated.connect(self._on_pick)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter (Ctrl+F): text to look for, case-insensitive")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMinimumWidth(160)
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
        self.view.setMaximumBlockCount(max_lines)
        self.view.setStyleSheet("QPlainTextEdit { font-family: monospace; }")
        self.status = StatusLine("looking for the server's log files...")
        self.view.setMinimumHeight(40)
        top = QHBoxLayout()
        for widget, stretch in ((self.source, 0), (self.picker, 0), (self.filter, 1), (self.follow, 0), (clear, 0)):
            top.addWidget(widget, stretch)
        body = QWidget()
        body_column = QVBoxLayout(body)
        body_column.setContentsMargins(0, 0, 0, 0)
        body_column.addLayout(top)
        body_column.addWidget(self.view, 1)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 2, 4, 2)
        column.setSpacing(2)
        column.addWidget(scrolling(body), 1)  # a very short dock scrolls instead of growing the window
        column.addWidget(self.status)
        shortcuts = [("Filter", "Ctrl+F", self._focus_filter), ("Pause", "Ctrl+P", self.follow.toggle),
                     ("Clear", "Ctrl+K", self.clear), ("Refresh files", "F5", self.refresh_files)]
        shortcuts += [(label, f"Alt+{n}", lambda _=False, i=n - 1: self.source.setCurrentIndex(i))
                      for n, label in enumerate(SOURCES.values(), start=1)]
        for text, keys, slot in shortcuts:
            shortcut_action(self, text, keys, slot)
        self.relay = _Relay(self)
        self.relay.record.connect(self._studio_record)  # a bound slot: Qt disconnects it with the panel
        self.handler = StudioLogHandler(self.relay)
        logging.getLogger("comfyvn").addHandler(self.handler)
        handler = self.handler
        self.destroyed.connect(lambda *_: logging.getLogger("comfyvn").removeHandler(handler))
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(lambda: on_screen(self) and self.poll())  # while seen and following
        bridge.event.connect(self._on_event)
        bridge.online_changed.connect(self._on_online)
        bridge.get("/jobs/poll", params={"limit": RECENT_JOBS}, on_done=self._got_recent, on_error=self._error)
        self.refresh_files()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._update_timer()
        self.poll()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._update_timer()

    def _update_timer(self) -> None:
        if self.isVisible() and not self.follow.isChecked():
            self.timer.start()
        else:
            self.timer.stop()

    def _studio_record(self, text: str) -> None:
        self.add("studio", text)

    def detach(self) -> None:
        """Stop listening to this process's logging (also done when the panel is destroyed)."""
        logging.getLogger("comfyvn").removeHandler(self.handler)

    # -- lines ---------------------------------------------------------------------------------

    def add(self, source: str | frozenset[str], text: str) -> None:
        tags = frozenset([source]) if isinstance(source, str) else source
        self.lines.append((tags, text))
        if len(self.lines) > self.max_lines:
            del self.lines[: len(self.lines) - self.max_lines]
        if self.follow.isChecked():
            self.pending += 1
            self.follow.setText(f"Follow ({self.pending} new)")
        elif self._shown(tags, text):
            self.view.appendPlainText(text)

    def _shown(self, tags: frozenset[str], text: str) -> bool:
        wanted = self.source.currentData()
        if wanted == "render":
            if "render" not in tags and not ("jobs" in tags and " render." in text):
                return False
        elif wanted == "all":
            if tags & {"gui", "file"}:
                return False
        elif wanted not in tags:
            return False
        needle = self.filter.text().strip().lower()
        return not needle or needle in text.lower()

    def visible_text(self) -> str:
        return self.view.toPlainText()

    def _redraw(self) -> None:
        self.view.setPlainText("\n".join(text for tags, text in self.lines if self._shown(tags, text)))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

    def _on_source(self) -> None:
        if self.source.currentData() == "file":
            if self.picker.currentData():
                self._open_file(self.picker.currentData(), "file")
            else:
                self._set_status("pick a log file in the box next to the source (F5 refreshes the list)")
                self.picker.setFocus()
        self._redraw()

    def _on_pause(self, paused: bool) -> None:
        self._update_timer()
        if paused:
            self.follow.setText("Follow")
        else:
            self.follow.setText("Pause")
            self.pending = 0
            self._redraw()
            self.poll()

    def _focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()

    def clear(self) -> None:
        self.lines.clear()
        self.pending = 0
        self.view.clear()

    def _set_status(self, text: str) -> None:
        self.failed = False
        self.status.say(text)

    def _error(self, error: BridgeError) -> None:
        self.failed = True
        self.status.say(f"error: {error.message}", error=True)

    # -- log files (GET /api/logs) ---------------------------------------------------------------

    def refresh_files(self, explicit: bool = True) -> None:
        """Ask for the list of log files; starts tailing system.log and gui.log when they exist.
        Only an explicit refresh (F5, back online) replaces an error shown in the status line."""
        self.bridge.get("/api/logs", on_done=lambda answer: self._got_listing(answer, explicit),
                        on_error=self._error, owner=self)

    def _got_listing(self, answer: dict[str, Any], explicit: bool = True) -> None:
        self.listing = list(answer.get("logs") or [])
        names = [entry["name"] for entry in self.listing]
        chosen = self.picker.currentData()
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem("Pick a log file...", None)
        for entry in self.listing:
            self.picker.addItem(f"{entry['name']}  ({entry['size'] / 1024:.1f} KiB)", entry["name"])
        if chosen in names:
            self.picker.setCurrentIndex(names.index(chosen) + 1)
        self.picker.blockSignals(False)
        for name, source in FILES.items():
            if name in names and name not in self.files:
                self._open_file(name, source)
        tailing = ", ".join(sorted(self.files)) or "no log file yet"
        if explicit or not self.failed:
            self._set_status(f"{len(names)} log files in {answer.get('folder', 'the log folder')}; tailing {tailing}")

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if name:
            self._open_file(name, "file")
            self.source.setCurrentIndex(self.source.findData("file"))

    def _open_file(self, name: str, source: str) -> None:
        if source == "file":  # one picked file at a time: forget the previous one
            for old in [n for n, f in self.files.items() if f["source"] == "file" and n != name]:
                del self.files[old]
            if name in self.files:
                return
            self.lines = [(tags, text) for tags, text in self.lines if "file" not in tags]
        if name not in self.files:
            self.files[name] = {"source": source, "offset": None, "busy": False}
            self._fetch_file(name)

    def _fetch_file(self, name: str) -> None:
        entry = self.files.get(name)
        if entry is None or entry["busy"]:
            return
        entry["busy"] = True
        params = {"tail": FIRST_TAIL} if entry["offset"] is None else {"offset": entry["offset"]}
        if entry.get("file_id") and entry["offset"] is not None:
            params["file_id"] = entry["file_id"]  # a rotation that already grew past our offset is noticed

        def done(answer: dict[str, Any]) -> None:
            entry["busy"] = False
            if self.files.get(name) is not entry:
                return  # another file was picked meanwhile
            if answer.get("rotated"):
                self.add(frozenset([entry["source"]]), f"--- {name} was rotated; reading it from the start ---")
            for raw in answer.get("lines") or []:
                text, logger, context = readable_line(raw)
                self.add(tags_of(entry["source"], logger, context), text)
            entry["offset"] = int(answer.get("next_offset", 0))
            entry["file_id"] = answer.get("file_id")
            if answer.get("truncated") and entry["offset"] > int(answer.get("offset", 0)):
                self._fetch_file(name)  # more waits behind the byte limit

        def failed(error: BridgeError) -> None:
            entry["busy"] = False
            if error.status == 404 and self.files.get(name) is entry:
                del self.files[name]  # gone (or not there yet): the next listing brings it back
            self._error(error)

        self.bridge.get(f"/api/logs/{quote(name, safe='/')}", params=params, on_done=done, on_error=failed,
                        owner=self)

    def _on_online(self, online: bool, _detail: str) -> None:
        if online:
            self.refresh_files()

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
        """One round: new lines of every tailed file and active job (the timer calls this)."""
        if not self.bridge.online or self.follow.isChecked():
            return
        self.polls += 1
        if self.polls % LISTING_EVERY == 0:
            self.refresh_files(explicit=False)
        for name in list(self.files):
            self._fetch_file(name)
        for job_id, entry in list(self.tailed.items()):
            if entry["state"] in ACTIVE or not entry["done"]:
                self._fetch(job_id)

    def _fetch(self, job_id: str) -> None:
        entry = self.tailed[job_id]
        if entry["busy"]:
            entry["again"] = True  # asked while a fetch is under way: fetch once more after it
            return
        entry["busy"], entry["again"] = True, False

        def done(answer: dict[str, Any]) -> None:
            entry["busy"] = False
            tags = frozenset({"jobs", "render"} if entry["kind"].startswith("render.") else {"jobs"})
            for line in answer.get("lines") or []:
                stamp = time.strftime("%H:%M:%S", time.localtime(float(line.get("ts") or 0)))
                self.add(tags, f"{stamp} {entry['kind']} {job_id[:8]} | {line.get('line', '')}")
            entry["offset"] = int(answer.get("next_offset", entry["offset"]))
            entry["done"] = entry["state"] not in ACTIVE and not answer.get("lines")
            if entry.get("again"):
                self._fetch(job_id)

        def failed(error: BridgeError) -> None:
            entry["busy"] = False
            entry["done"] = True  # a forgotten job (404): stop asking
            self._error(error)

        self.bridge.get(f"/jobs/logs/{job_id}", params={"offset": entry["offset"]}, on_done=done,
                        on_error=failed, owner=self)
