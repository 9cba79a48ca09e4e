"""Task Manager: the server's jobs, live.

The list starts from ``GET /jobs/poll`` and is then kept current by the hook-bus job events the
bridge relays (``on_job_submitted/started/progress/finished``). Right-click a job (or use the
shortcuts) to cancel it (``POST /jobs/kill/{id}``), run it again with the same kind, params and
priority (``POST /jobs/submit``) or read its log (``GET /jobs/logs/{id}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.widgets import StatusLine, shortcut_action

COLUMNS = ["Kind", "State", "Progress", "Message", "Age"]
KIND, STATE, PROGRESS, MESSAGE, AGE = range(len(COLUMNS))
ACTIVE = ("queued", "delayed", "running")
POLL_LIMIT = 200
JOB_ROLE = Qt.ItemDataRole.UserRole


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column (a float 0..1 in the item's data) as a progress bar."""

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(JOB_ROLE)
        if not isinstance(value, (int, float)):
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = round(100 * max(0.0, min(1.0, float(value))))
        bar.text = f"{bar.progress}%"
        bar.textVisible = True
        bar.state = option.state
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class JobLogDialog(QDialog):
    """The log lines of one job; Refresh (F5) fetches the lines written since."""

    def __init__(self, bridge: ServerBridge, job: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.job_id, self.offset = bridge, str(job["id"]), 0
        self.setWindowTitle(f"Log of {job.get('kind', 'job')} {self.job_id[:8]}")
        self.resize(720, 420)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.status = QLabel("loading...")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        refresh = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        refresh.setShortcut(QKeySequence("F5"))
        refresh.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(self.text, 1)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(buttons)
        column.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        self.bridge.get(f"/jobs/logs/{self.job_id}", params={"offset": self.offset}, on_done=self._got,
                        on_error=lambda e: self.status.setText(f"error: {e.message}"), owner=self)

    def _got(self, answer: dict[str, Any]) -> None:
        lines = answer.get("lines") or []
        for line in lines:
            stamp = time.strftime("%H:%M:%S", time.localtime(float(line.get("ts") or 0)))
            self.text.appendPlainText(f"{stamp}  {line.get('line', '')}")
        self.offset = int(answer.get("next_offset", self.offset))
        self.status.setText(f"{self.offset} line(s)" if self.offset else "no log lines yet")


class TasksPanel(QWidget):
    """The Task Manager panel: ``TasksPanel(bridge)``."""

    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.jobs: dict[str, dict[str, Any]] = {}
        self.items: dict[str, QTreeWidgetItem] = {}
        self.dialogs: list[JobLogDialog] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(False)  # newest first, as the server lists them
        self.tree.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self.tree))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self.show_log(item.data(KIND, JOB_ROLE)))
        for column, width in ((KIND, 150), (STATE, 80), (PROGRESS, 110), (MESSAGE, 220)):
            self.tree.setColumnWidth(column, width)
        self.counts = QLabel("")
        self.counts.setWordWrap(True)
        self.status = StatusLine()
        refresh = QPushButton("Refresh")
        refresh.setToolTip("Reload the job list (F5)")
        refresh.clicked.connect(self.refresh)
        clear = QPushButton("Clear finished")
        clear.setToolTip("Forget finished jobs (POST /jobs/reset)")
        clear.clicked.connect(self.clear_finished)
        top = QHBoxLayout()
        top.addWidget(self.counts, 1)
        top.addWidget(clear)
        top.addWidget(refresh)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addWidget(self.tree, 1)
        column.addWidget(self.status)
        self.actions = {
            "cancel": self._action("Cancel", "Delete", self.cancel_selected),
            "retry": self._action("Retry", "Ctrl+R", self.retry_selected),
            "log": self._action("Show log", "Ctrl+L", self.log_selected),
            "refresh": self._action("Refresh", "F5", self.refresh),
        }
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self._update_ages)
        self.ticker.start()
        bridge.event.connect(self._on_event)
        bridge.online_changed.connect(self._on_online)
        self.refresh()

    def _action(self, text: str, shortcut: str, slot: Any) -> QAction:
        return shortcut_action(self, text, shortcut, slot)

    # -- data ----------------------------------------------------------------------------------

    def _on_online(self, online: bool, _detail: str) -> None:
        if online:
            self.refresh()

    def refresh(self) -> None:
        self._call("GET", "/jobs/poll", self._got_poll, params={"limit": POLL_LIMIT})

    def _call(self, method: str, path: str, done: Callable[[Any], None], **kwargs: Any) -> None:
        self.bridge.call(method, path, on_done=done, on_error=self._error, owner=self, **kwargs)

    def _got_poll(self, answer: dict[str, Any]) -> None:
        listed = answer.get("jobs") or []
        for job_id in set(self.items) - {job["id"] for job in listed}:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(self.items.pop(job_id)))
            self.jobs.pop(job_id, None)
        for job in reversed(listed):  # oldest first, so each new one lands on top
            self.upsert(job)
        self._update_counts()

    def _update_counts(self) -> None:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[str(job.get("state"))] = counts.get(str(job.get("state")), 0) + 1
        self.counts.setText("  ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "no jobs")

    def upsert(self, job: dict[str, Any]) -> None:
        """Add or update the row of ``job`` (a job dict, or a partial one with ``id``)."""
        job_id = str(job["id"])
        merged = self.jobs.setdefault(job_id, {})
        merged.update({k: v for k, v in job.items() if v is not None or k not in merged})
        item = self.items.get(job_id)
        if item is None:
            item = QTreeWidgetItem()
            item.setData(KIND, JOB_ROLE, job_id)
            self.tree.insertTopLevelItem(0, item)
            self.items[job_id] = item
        state = str(merged.get("state", ""))
        message = merged.get("error") if state == "failed" and merged.get("error") else merged.get("message")
        item.setText(KIND, str(merged.get("kind", "")))
        item.setToolTip(KIND, job_id)
        item.setText(STATE, state)
        item.setData(PROGRESS, JOB_ROLE, float(merged.get("progress") or 0.0))
        item.setText(MESSAGE, str(message or ""))
        item.setToolTip(MESSAGE, str(message or ""))
        self._update_age(item, merged)
        self._update_counts()

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        job_id = payload.get("job_id")
        if not name.startswith("on_job_") or not job_id:
            return
        change: dict[str, Any] = {"id": job_id, "kind": payload.get("kind")}
        if name == "on_job_submitted":
            change.update(state=payload.get("state"), priority=payload.get("priority"))
        elif name == "on_job_started":
            change.update(state="running", started_at=time.time())
        elif name == "on_job_progress":
            change.update(state="running", progress=payload.get("progress"), message=payload.get("message"))
        elif name == "on_job_finished":
            change.update(state=payload.get("state"), error=payload.get("error"), finished_at=time.time())
            if payload.get("state") == "succeeded":
                change["progress"] = 1.0
        known = job_id in self.jobs
        self.upsert(change)
        if not known or name == "on_job_finished":  # params, created_at, final message: the full record
            self._call("GET", f"/jobs/{job_id}", lambda a: self.upsert(a["job"]))

    def _update_ages(self) -> None:
        for job_id, item in self.items.items():
            self._update_age(item, self.jobs[job_id])

    @staticmethod
    def _update_age(item: QTreeWidgetItem, job: dict[str, Any]) -> None:
        created = job.get("created_at")
        if not created:
            return
        end = job.get("finished_at") if job.get("state") not in ACTIVE else None
        item.setText(AGE, age_text((end or time.time()) - float(created)))

    def _error(self, error: BridgeError) -> None:
        self.status.say(f"error: {error.message}", error=True)

    def _say(self, text: str) -> None:
        self.status.say(text)

    # -- actions -------------------------------------------------------------------------------

    def selected_job(self) -> dict[str, Any] | None:
        item = self.tree.currentItem()
        return self.jobs.get(item.data(KIND, JOB_ROLE)) if item is not None else None

    def context_menu(self, job: dict[str, Any]) -> QMenu:
        """The right-click menu of ``job``: Cancel, Retry, Show log."""
        menu = QMenu(self)
        active = job.get("state") in ACTIVE
        cancel = menu.addAction("Cancel", lambda: self.cancel(job["id"]))
        cancel.setEnabled(active)
        retry = menu.addAction("Retry", lambda: self.retry(job["id"]))
        retry.setEnabled(not active and bool(job.get("kind")))
        menu.addAction("Show log", lambda: self.show_log(job["id"]))
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        self.tree.setCurrentItem(item)
        job = self.jobs.get(item.data(KIND, JOB_ROLE))
        if job is not None:
            self.context_menu(job).exec(self.tree.viewport().mapToGlobal(pos))

    def cancel(self, job_id: str) -> None:
        self._say(f"cancelling {job_id[:8]}...")
        self._call("POST", f"/jobs/kill/{job_id}",
                   lambda a: (self.upsert(a["job"]), self._say(f"cancel sent to {job_id[:8]}")))

    def retry(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        body = {"kind": job["kind"], "params": job.get("params") or {}, "priority": job.get("priority") or 0}
        self._call("POST", "/jobs/submit",
                   lambda a: (self.upsert(a["job"]), self._say(f"resubmitted as {a['job']['id'][:8]}")),
                   json_body=body)

    def show_log(self, job_id: str | None) -> JobLogDialog | None:
        job = self.jobs.get(job_id or "")
        if job is None:
            return None
        dialog = JobLogDialog(self.bridge, job, self)
        dialog.finished.connect(lambda _r: self.dialogs.remove(dialog) if dialog in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def clear_finished(self) -> None:
        self._call("POST", "/jobs/reset", lambda a: (self._say(f"forgot {a['removed']} finished job(s)"),
                                                     self.refresh()))

    def cancel_selected(self) -> None:
        job = self.selected_job()
        if job is not None and job.get("state") in ACTIVE:
            self.cancel(job["id"])

    def retry_selected(self) -> None:
        job = self.selected_job()
        if job is not None and job.get("state") not in ACTIVE:
            self.retry(job["id"])

    def log_selected(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.show_log(job["id"])
