"""The Settings panel's ComfyUI discovery: the "Discover ComfyUI servers" box of the Providers tab.

``POST /api/providers/discover`` (the server's default hosts and ports plus an optional extra host
and port) lists the ComfyUI servers that answer, each with an Add button that registers it as a
provider (``POST /api/providers``) under a free id. Ctrl+D discovers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from comfyvn.compute.discover import DEFAULT_HOSTS, DEFAULT_PORTS
from comfyvn.gui.bridge import BridgeError

FOUND_COLUMNS = ["server", "ComfyUI", "devices", "provider"]


class DiscoverySection:
    """Mixed into SettingsPanel, which provides ``bridge``, ``providers``, ``load_providers``,
    ``_say`` and ``_error``."""

    def _discover_box(self) -> QGroupBox:
        box = QGroupBox("Discover ComfyUI servers")
        self.discover_host = QLineEdit()
        self.discover_host.setPlaceholderText("also try host, e.g. 192.168.1.20")
        self.discover_port = QSpinBox()
        self.discover_port.setRange(0, 65535)
        self.discover_port.setSpecialValueText("no extra port")
        self.discover_port.setMaximumWidth(180)
        self.discover_port.setToolTip("A port to try besides " + ", ".join(map(str, DEFAULT_PORTS)))
        self.discover_button = QPushButton("D&iscover")
        self.discover_button.setToolTip("Look for ComfyUI servers (Ctrl+D)")
        self.discover_button.clicked.connect(self.discover)
        row = QGridLayout()
        row.addWidget(self.discover_host, 0, 0, 1, 2)
        row.addWidget(self.discover_port, 1, 0)
        row.addWidget(self.discover_button, 1, 1, Qt.AlignmentFlag.AlignLeft)
        row.setColumnStretch(1, 1)
        self.found_table = QTableWidget(0, len(FOUND_COLUMNS))
        self.found_table.setHorizontalHeaderLabels(FOUND_COLUMNS)
        self.found_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.found_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.found_table.verticalHeader().setVisible(False)
        self.found_table.setMinimumHeight(80)
        column = QVBoxLayout(box)
        column.addLayout(row)
        column.addWidget(self.found_table, 1)
        return box

    def discover(self) -> None:
        """Ask the server to look for ComfyUI servers: its default hosts and ports plus the extra ones."""
        body: dict[str, Any] = {}
        host, port = self.discover_host.text().strip(), self.discover_port.value()
        if host:
            body["hosts"] = [*DEFAULT_HOSTS, host]
        if port:
            body["ports"] = [*DEFAULT_PORTS, port]
        self.discover_button.setEnabled(False)
        self._say("Looking for ComfyUI servers…")
        self.bridge.post("/api/providers/discover", body, on_done=self._on_found, on_error=self._on_discover_error,
                         owner=self)

    def _on_discover_error(self, error: BridgeError) -> None:
        self.discover_button.setEnabled(True)
        self._error(error)

    def _on_found(self, answer: dict[str, Any]) -> None:
        self.discover_button.setEnabled(True)
        self.found = answer.get("found") or []
        self._show_found()
        count, tried = len(self.found), answer.get("tried", 0)
        self._say(f"Found {count} ComfyUI server(s) at {tried} address(es) tried." if count
                  else f"No ComfyUI server answered at the {tried} address(es) tried.")

    def _show_found(self) -> None:
        self.found_table.setRowCount(len(self.found))
        for row, server in enumerate(self.found):
            devices = ", ".join(f"{d.get('name')} ({(d.get('vram_total') or 0) / 2**30:.0f} GiB)"
                                for d in server.get("devices") or [])
            values = [server["base_url"], (server.get("system") or {}).get("comfyui_version", "?"), devices or "-"]
            for col, value in enumerate(values):
                self.found_table.setItem(row, col, QTableWidgetItem(str(value)))
            registered = server.get("registered")
            button = QPushButton(f"added as {registered}" if registered else "Add")
            button.setEnabled(not registered)
            button.clicked.connect(lambda _=False, s=server: self.add_found(s))
            self.found_table.setCellWidget(row, 3, button)
        self.found_table.resizeColumnsToContents()
        self.found_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

    def new_provider_for(self, server: dict[str, Any]) -> dict[str, Any]:
        """A provider body for a discovered server: an id not yet taken, a label naming it."""
        parts = urlsplit(server["base_url"])
        host = parts.hostname or "server"
        where = "local" if host in ("127.0.0.1", "localhost", "::1") else re.sub(r"[^a-z0-9.-]+", "-", host.lower())
        base = f"comfyui-{where}-{parts.port}"[:60].strip("-.")
        taken = {str(p.get("id")) for p in self.providers}
        provider_id = next(c for c in (base, *(f"{base}-{n}" for n in range(2, 100))) if c not in taken)
        version = (server.get("system") or {}).get("comfyui_version")
        label = f"ComfyUI {version} at {parts.netloc}" if version else f"ComfyUI at {parts.netloc}"
        return {"id": provider_id, "kind": "comfyui", "base_url": server["base_url"], "label": label}

    def add_found(self, server: dict[str, Any]) -> None:
        body = self.new_provider_for(server)

        def added(provider: dict[str, Any]) -> None:
            server["registered"] = provider["id"]
            self._show_found()
            self._say(f"Added {provider['id']} ({provider['base_url']}).")
            self.load_providers()

        self.bridge.call("POST", "/api/providers", json_body=body, on_done=added, on_error=self._error, owner=self)
