"""Settings panel: server, compute providers, render configuration, Debug & Feature Flags.

- Server: the URL this Studio talks to, the stored ``server.host``/``server.port`` (used at the next
  server start) and "Find Open Port" (``GET /api/system/open_port``: the server tests the ports on
  its own machine, which is where it will bind them).
- Compute providers: ``GET /api/providers`` with health; add (``POST``), enable/disable (``PATCH``),
  remove (``DELETE``), health-check one or all (``POST /api/providers/{id}/check``); Discover
  (``POST /api/providers/discover``) lists the ComfyUI servers that answer, each with an Add button.
- Render: the ``render`` settings section as JSON (``GET /settings/get``, ``POST /settings/save``).
- Debug & Feature Flags: the Feature Flags panel, embedded.
Ctrl+S saves the current tab, F5 reloads everything, Ctrl+D discovers ComfyUI servers.
``settings.changed`` events reload it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from comfyvn.compute.discover import DEFAULT_HOSTS, DEFAULT_PORTS
from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.panels.flags import FlagsPanel

PROVIDER_COLUMNS = ["id", "kind", "base_url", "enabled", "health"]
FOUND_COLUMNS = ["server", "ComfyUI", "devices", "provider"]
PORT_RANGE = 50  # ports Find Open Port tries


class SettingsPanel(QWidget):
    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings: dict[str, Any] = {}
        self.providers: list[dict[str, Any]] = []
        self.found: list[dict[str, Any]] = []  # the last discovery's servers
        self.tabs = QTabWidget()
        self.tabs.addTab(self._server_tab(), "&Server")
        self.tabs.addTab(self._providers_tab(), "&Compute providers")
        self.tabs.addTab(self._render_tab(), "&Render")
        self.flags = FlagsPanel(bridge)
        self.tabs.addTab(self.flags, "&Debug && Feature Flags")
        self.status = QLabel("Loading settings…")
        self.status.setWordWrap(True)
        column = QVBoxLayout(self)
        column.addWidget(self.tabs, 1)
        column.addWidget(self.status)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence("Ctrl+S"), self, activated=self.save_current, context=context)
        QShortcut(QKeySequence("F5"), self, activated=self.reload, context=context)
        QShortcut(QKeySequence("Ctrl+D"), self, activated=self.discover, context=context)
        bridge.event.connect(self._on_event)
        self.reload()

    # -- tabs -----------------------------------------------------------------------------------

    def _server_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.connected = QLabel(self.bridge.base_url)
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.find_port_button = QPushButton("Find Open &Port")
        self.find_port_button.clicked.connect(self.find_open_port)
        port_row = QHBoxLayout()
        port_row.addWidget(self.port_spin, 1)
        port_row.addWidget(self.find_port_button)
        self.save_server_button = QPushButton("Save server settings (Ctrl+S)")
        self.save_server_button.clicked.connect(self.save_server)
        form.addRow("Connected to", self.connected)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", port_row)
        form.addRow(QLabel("Host and port apply the next time the server starts."))
        form.addRow(self.save_server_button)
        return tab

    def _providers_tab(self) -> QWidget:
        tab = QWidget()
        self.provider_table = QTableWidget(0, len(PROVIDER_COLUMNS))
        self.provider_table.setHorizontalHeaderLabels(PROVIDER_COLUMNS)
        self.provider_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.provider_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.provider_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.new_id = QLineEdit()
        self.new_id.setPlaceholderText("id, e.g. gpu-box")
        self.new_url = QLineEdit()
        self.new_url.setPlaceholderText("ComfyUI URL, e.g. http://127.0.0.1:8188")
        self.add_button = QPushButton("&Add")
        self.add_button.clicked.connect(self.add_provider)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_id)
        add_row.addWidget(self.new_url, 2)
        add_row.addWidget(self.add_button)
        buttons = QHBoxLayout()
        self.check_button = QPushButton("Check &health")
        self.check_all_button = QPushButton("Check a&ll")
        self.toggle_button = QPushButton("&Enable/disable")
        self.remove_button = QPushButton("Re&move")
        for button, slot in ((self.check_button, self.check_selected), (self.check_all_button, self.check_all),
                             (self.toggle_button, self.toggle_selected), (self.remove_button, self.remove_selected)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        column = QVBoxLayout(tab)
        column.addWidget(self.provider_table, 2)
        column.addLayout(buttons)
        column.addLayout(add_row)
        column.addWidget(self._discover_box(), 1)
        return tab

    def _discover_box(self) -> QGroupBox:
        box = QGroupBox("Discover ComfyUI servers")
        self.discover_host = QLineEdit()
        self.discover_host.setPlaceholderText("also try host (optional), e.g. 192.168.1.20")
        self.discover_port = QSpinBox()
        self.discover_port.setRange(0, 65535)
        self.discover_port.setSpecialValueText("no extra port")
        self.discover_port.setToolTip("A port to try besides " + ", ".join(map(str, DEFAULT_PORTS)))
        self.discover_button = QPushButton("D&iscover (Ctrl+D)")
        self.discover_button.clicked.connect(self.discover)
        row = QHBoxLayout()
        row.addWidget(QLabel("Host"))
        row.addWidget(self.discover_host, 2)
        row.addWidget(QLabel("Port"))
        row.addWidget(self.discover_port, 1)
        row.addWidget(self.discover_button)
        self.found_table = QTableWidget(0, len(FOUND_COLUMNS))
        self.found_table.setHorizontalHeaderLabels(FOUND_COLUMNS)
        self.found_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.found_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.found_table.verticalHeader().setVisible(False)
        column = QVBoxLayout(box)
        column.addLayout(row)
        column.addWidget(self.found_table, 1)
        return box

    def _render_tab(self) -> QWidget:
        tab = QWidget()
        self.render_edit = QPlainTextEdit()
        self.render_edit.setPlaceholderText('{"prompt_overrides": {"*": {"suffix": "masterpiece"}}}')
        self.save_render_button = QPushButton("Save render settings (Ctrl+S)")
        self.save_render_button.clicked.connect(self.save_render)
        column = QVBoxLayout(tab)
        column.addWidget(QLabel("The render.* settings as JSON (merged into the stored settings on save):"))
        column.addWidget(self.render_edit, 1)
        column.addWidget(self.save_render_button)
        return tab

    # -- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        self.bridge.get("/settings/get", on_done=self._on_settings, on_error=self._error)
        self.load_providers()

    def _error(self, error: BridgeError) -> None:
        self.status.setText(f"Error: {error.message}")
        self.status.setStyleSheet("color: #c0392b;")

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("")

    def _on_settings(self, answer: dict[str, Any], quiet: bool = False) -> None:
        self.settings = answer.get("settings") or {}
        server = self.settings.get("server") or {}
        self.host_edit.setText(str(server.get("host", "127.0.0.1")))
        self.port_spin.setValue(int(server.get("port", 8001)))
        self.render_edit.setPlainText(json.dumps(self.settings.get("render") or {}, indent=2, sort_keys=True))
        if not quiet:
            self._say(f"Settings from {answer.get('path', 'the server')}.")

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "settings.changed":  # saved here or elsewhere: show the stored values, keep the status line
            self.bridge.get("/settings/get", on_done=lambda a: self._on_settings(a, quiet=True), on_error=self._error)
        elif name == "on_compute_health_changed":
            self.load_providers()

    # -- server ---------------------------------------------------------------------------------

    def find_open_port(self) -> None:
        """Ask the server for a port its machine can bind on the chosen host, from the chosen port up."""
        host, start = self.host_edit.text().strip() or "127.0.0.1", self.port_spin.value()
        self.find_port_button.setEnabled(False)
        self._say(f"Asking the server for a free port on {host} from {start}…")
        self.bridge.get("/api/system/open_port", params={"host": host, "start": start, "count": PORT_RANGE},
                        on_done=self._on_port, on_error=self._on_port_error)

    def _on_port(self, answer: dict[str, Any]) -> None:
        self.find_port_button.setEnabled(True)
        self.port_spin.setValue(int(answer["port"]))
        self._say(f"Port {answer['port']} is free on {answer['host']} on the server's machine; "
                  "Save to use it at the next server start.")

    def _on_port_error(self, error: BridgeError) -> None:
        self.find_port_button.setEnabled(True)
        self._error(error)

    def save_server(self) -> None:
        body = {"settings": {"server": {"host": self.host_edit.text().strip(), "port": self.port_spin.value()}}}
        self.bridge.post("/settings/save", body, on_done=lambda a: self._saved(a, "server"), on_error=self._error)

    def _saved(self, answer: dict[str, Any], section: str) -> None:
        self.settings = answer.get("settings") or self.settings
        self._say(f"Saved the {section} settings.")

    def save_render(self) -> None:
        try:
            render = json.loads(self.render_edit.toPlainText() or "{}")
        except ValueError as exc:
            self._error(BridgeError(f"the render settings are not valid JSON: {exc}"))
            return
        if not isinstance(render, dict):
            self._error(BridgeError("the render settings must be a JSON object"))
            return
        self.bridge.post("/settings/save", {"settings": {"render": render}},
                         on_done=lambda a: self._saved(a, "render"), on_error=self._error)

    def save_current(self) -> None:
        if self.tabs.currentIndex() == 0:
            self.save_server()
        elif self.tabs.currentIndex() == 2:
            self.save_render()

    # -- providers ------------------------------------------------------------------------------

    def load_providers(self) -> None:
        self.bridge.get("/api/providers", on_done=self._on_providers, on_error=self._error)

    def _on_providers(self, answer: dict[str, Any]) -> None:
        self.providers = answer.get("providers") or []
        self.provider_table.setRowCount(len(self.providers))
        for row, provider in enumerate(self.providers):
            health = provider.get("health") or {}
            status = health.get("status") or ("disabled" if not provider.get("enabled") else "unknown")
            if health.get("last_error"):
                status += f": {health['last_error']}"
            values = [provider.get("id"), provider.get("kind"), provider.get("base_url") or "(built in)",
                      "yes" if provider.get("enabled") else "no", status]
            for col, value in enumerate(values):
                self.provider_table.setItem(row, col, QTableWidgetItem(str(value)))
        self.provider_table.resizeColumnToContents(0)

    def selected_provider(self) -> str | None:
        row = self.provider_table.currentRow()
        return str(self.providers[row]["id"]) if 0 <= row < len(self.providers) else None

    def add_provider(self) -> None:
        body = {"id": self.new_id.text().strip(), "kind": "comfyui", "base_url": self.new_url.text().strip()}
        self.bridge.call("POST", "/api/providers", json_body=body, on_error=self._error,
                         on_done=lambda p: (self._say(f"Added {p['id']}."), self.load_providers(),
                                            self.new_id.clear(), self.new_url.clear()))

    def check_selected(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self._say("Select a provider first.")
            return
        self._check(provider)

    def check_all(self) -> None:
        for provider in self.providers:
            if provider.get("enabled"):
                self._check(str(provider["id"]))

    def _check(self, provider: str) -> None:
        self._say(f"Checking {provider}…")
        self.bridge.post(f"/api/providers/{provider}/check", {}, on_error=self._error,
                         on_done=lambda a: (self._say(f"{a['provider']}: {a.get('status')}"
                                                      + (f" ({a['error']})" if a.get("error") else "")),
                                            self.load_providers()))

    def toggle_selected(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self._say("Select a provider first.")
            return
        enabled = not next(p for p in self.providers if p["id"] == provider).get("enabled")
        self.bridge.call("PATCH", f"/api/providers/{provider}", json_body={"enabled": enabled}, on_error=self._error,
                         on_done=lambda _a: (self._say(f"{provider} {'enabled' if enabled else 'disabled'}."),
                                             self.load_providers()))

    def remove_selected(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self._say("Select a provider first.")
            return
        self.bridge.call("DELETE", f"/api/providers/{provider}", on_error=self._error,
                         on_done=lambda _a: (self._say(f"Removed {provider}."), self.load_providers()))

    # -- discovery ------------------------------------------------------------------------------

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
        self.bridge.post("/api/providers/discover", body, on_done=self._on_found, on_error=self._on_discover_error)

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
