"""Scheduler Board: the compute scheduler's devices with their queues, running jobs, durations and costs.

Reads ``GET /api/schedule/board`` (per device) and ``GET /api/schedule/state`` (queue lengths per
pool); refreshes itself every 2 s while visible, on job and compute events, and on F5.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.panels import on_screen
from comfyvn.gui.widgets import StatusLine, shortcut_action

COLUMNS = ["Device", "Status", "Where", "Load", "Queued", "Done", "Failed", "Mean", "p50", "Max", "Cost",
           "GPU min"]
INTERVAL_MS = 2000
STATUS_COLOURS = {"healthy": "#1e8449", "degraded": "#b9770e", "down": "#c0392b"}


def seconds_text(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def cost_text(value: Any) -> str:
    return "-" if not value else f"{float(value):.4f}".rstrip("0").rstrip(".")


class SchedulerPanel(QWidget):
    """The Scheduler Board panel: ``SchedulerPanel(bridge)``."""

    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None, *, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.board: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.refreshes = 0  # answers applied: lets tests and the curious see it refresh itself
        self._in_flight = 0
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 160)
        for column in range(1, len(COLUMNS)):
            self.tree.setColumnWidth(column, 70)
        self.summary = QLabel("loading...")
        self.summary.setWordWrap(True)
        self.status = StatusLine()
        refresh = QPushButton("Refresh")
        refresh.setToolTip("Reload the board now (F5); it also refreshes itself every 2 s")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(refresh)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addWidget(self.tree, 1)
        column.addWidget(self.status)
        shortcut_action(self, "Refresh", "F5", self.refresh)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: on_screen(self) and self.refresh())  # a hidden dock tab: no polling
        self.soon = QTimer(self)  # events come in bursts: one refresh per burst
        self.soon.setSingleShot(True)
        self.soon.setInterval(200)
        self.soon.timeout.connect(self.refresh)
        bridge.event.connect(self._on_event)
        bridge.online_changed.connect(self._on_online)

    # -- refreshing ----------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.timer.start()
        self.refresh()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def _on_event(self, name: str, _payload: dict[str, Any]) -> None:
        if on_screen(self) and (name.startswith("on_job_") or "compute" in name or "provider" in name):
            self.soon.start()

    def _on_online(self, online: bool, _detail: str) -> None:
        if online:
            self.refresh()

    def refresh(self) -> None:
        if self._in_flight:  # a slow server: never pile requests up
            return
        self._in_flight = 2
        self.bridge.get("/api/schedule/board", on_done=self._got_board,
                        on_error=self._error)
        self.bridge.get("/api/schedule/state", on_done=self._got_state,
                        on_error=self._error)

    def _got_board(self, board: dict[str, Any]) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self.board = board
        self._render()

    def _got_state(self, state: dict[str, Any]) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self.state = state
        self._render()

    def _error(self, error: BridgeError) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self.status.say(f"error: {error.message}", error=True)

    # -- drawing -------------------------------------------------------------------------------

    def _render(self) -> None:
        if self._in_flight:
            return
        self.refreshes += 1
        self.status.say("")
        devices = self.board.get("devices") or []
        current = self.tree.currentItem().text(0) if self.tree.currentItem() else None
        self.tree.clear()
        for device in devices:
            item = QTreeWidgetItem(self.row(device))
            item.setToolTip(0, f"{device.get('label') or device['device']} ({device.get('kind')})")
            colour = STATUS_COLOURS.get(str(device.get("status")))
            if colour:
                item.setForeground(1, QColor(colour))
            if device.get("last_error"):
                item.setToolTip(1, str(device["last_error"]))
            running = device.get("running") or []
            item.setToolTip(3, "running: " + ", ".join(running) if running else "idle")
            self.tree.addTopLevelItem(item)
            if device["device"] == current:
                self.tree.setCurrentItem(item)
        queued = self.state.get("queued") or {}
        counts = self.state.get("jobs") or {}
        pools = ", ".join(f"{pool} {n}" for pool, n in sorted(queued.items()))
        jobs = ", ".join(f"{name} {n}" for name, n in counts.items())
        self.summary.setText(f"{len(devices)} device(s) | unassigned {self.board.get('unassigned', 0)} | "
                             f"queued by pool: {pools or '-'} | jobs: {jobs or '-'}")

    @staticmethod
    def row(device: dict[str, Any]) -> list[str]:
        durations = device.get("durations") or {}
        costs = device.get("costs") or {}
        return [str(device.get("device")), str(device.get("status")), str(device.get("location") or "-"),
                f"{device.get('load', 0)}/{device.get('max_concurrent', '?')}", str(device.get("queued", 0)),
                str(device.get("completed", 0)), str(device.get("failed", 0)), seconds_text(durations.get("mean")),
                seconds_text(durations.get("p50")), seconds_text(durations.get("max")),
                cost_text(costs.get("cost_estimate")), cost_text(costs.get("vram_minutes"))]
