"""Feature Flags panel: one toggle per declared flag, with its description, owner and default.

Reads ``GET /api/flags``; a toggle sends ``POST /api/flags/{name}`` (persisted in comfyvn.json and
applied live by the server). Changes made elsewhere (CLI, another Studio) arrive as the
``flags.changed`` hook event and update the toggle without a reload. Ctrl+R reloads, the filter box
(Ctrl+F) narrows the list by name, owner or description.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.widgets import StatusLine


class FlagRow(QFrame):
    """One flag: a checkbox with its name, the owner and default, the description below."""

    def __init__(self, flag: dict[str, Any]) -> None:
        super().__init__()
        self.name = str(flag["name"])
        self.flag = flag
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.toggle = QCheckBox(self.name)
        self.toggle.setObjectName(f"flag_{self.name}")
        self.meta = QLabel()
        self.meta.setStyleSheet("color: #666;")
        self.meta.setWordWrap(True)
        self.description = QLabel(str(flag.get("description", "")))
        self.description.setWordWrap(True)
        column = QVBoxLayout(self)  # stacked, not side by side: a row fits a narrow dock without clipping
        column.setContentsMargins(6, 4, 6, 4)
        column.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.meta)
        column.addWidget(self.description)
        self.update_flag(flag)

    def update_flag(self, flag: dict[str, Any]) -> None:
        self.flag = {**self.flag, **flag}
        self.toggle.blockSignals(True)  # a value from the server is not a user's click
        self.toggle.setChecked(bool(self.flag.get("enabled")))
        self.toggle.blockSignals(False)
        default = "on" if self.flag.get("default") else "off"
        self.meta.setText(f"owner: {self.flag.get('owner', '?')} · default: {default}")

    def matches(self, text: str) -> bool:
        text = text.casefold()
        return not text or any(text in str(self.flag.get(k, "")).casefold() for k in ("name", "owner", "description"))


class FlagsPanel(QWidget):
    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.rows: dict[str, FlagRow] = {}
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter flags (Ctrl+F)")
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Reload the flags (Ctrl+R)")
        self.reload_button.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.reload_button)
        self.list_widget = QWidget()
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows wrap to the width
        scroll.setWidget(self.list_widget)
        self.status = StatusLine("Loading flags…")
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(scroll, 1)
        column.addWidget(self.status)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.reload,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.filter_edit.setFocus,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        bridge.event.connect(self._on_event)
        bridge.online_changed.connect(self._on_online)  # a bound method: disconnected when the panel goes
        self.reload()

    def reload(self) -> None:
        self.bridge.get("/api/flags", on_done=self._on_flags, on_error=self._error, owner=self)

    def _on_online(self, online: bool, _detail: str) -> None:
        if online:
            self.reload()

    def _error(self, error: BridgeError) -> None:
        self.status.say(f"Error: {error.message}", error=True)

    def _say(self, text: str) -> None:
        self.status.say(text)

    def _on_flags(self, answer: dict[str, Any]) -> None:
        flags = answer.get("flags") or []
        for flag in flags:
            row = self.rows.get(flag["name"])
            if row is None:
                row = self.rows[flag["name"]] = FlagRow(flag)
                row.toggle.toggled.connect(lambda on, name=flag["name"]: self.set_flag(name, on))
                self.list_layout.addWidget(row)
            else:
                row.update_flag(flag)
        self._apply_filter(self.filter_edit.text())
        self._say(f"{len(flags)} flag(s); {sum(1 for f in flags if f.get('enabled'))} on.")

    def _apply_filter(self, text: str) -> None:
        for row in self.rows.values():
            row.setVisible(row.matches(text))

    def set_flag(self, name: str, enabled: bool) -> None:
        row = self.rows[name]
        row.toggle.setEnabled(False)  # until the server answers
        self._say(f"Switching {name} {'on' if enabled else 'off'}…")

        def done(flag: dict[str, Any]) -> None:
            row.toggle.setEnabled(True)
            row.update_flag(flag)
            self._say(f"{name} is {'on' if flag.get('enabled') else 'off'} (saved).")

        def failed(error: BridgeError) -> None:
            row.toggle.setEnabled(True)
            row.update_flag({"enabled": not enabled})  # the server kept the old value
            self._error(error)

        self.bridge.post(f"/api/flags/{name}", {"enabled": enabled}, on_done=done, on_error=failed, owner=self)

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name != "flags.changed":
            return
        row = self.rows.get(str(payload.get("name")))
        if row is None:
            self.reload()  # a flag we have not seen: a plugin declared it since
            return
        row.update_flag({"enabled": bool(payload.get("enabled"))})
        self._say(f"{row.name} was switched {'on' if payload.get('enabled') else 'off'} elsewhere.")
