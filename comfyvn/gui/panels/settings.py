"""Settings panel: server, compute providers, render configuration, Debug & Feature Flags.

- Server: the URL this Studio talks to, the stored ``server.host``/``server.port`` (used at the next
  server start) and "Find Open Port" (``GET /api/system/open_port``: the server tests the ports on
  its own machine, which is where it will bind them).
- Compute providers: ``GET /api/providers`` with health; add (``POST``), enable/disable (``PATCH``),
  remove (``DELETE``), health-check one or all (``POST /api/providers/{id}/check``); Discover
  (``POST /api/providers/discover``, settings_discover.py) lists the ComfyUI servers that answer.
- Render: the ``render`` settings section as JSON (``GET /settings/get``, ``POST /settings/save``).
- Debug & Feature Flags: the Feature Flags panel, embedded.
Ctrl+S saves the current tab, F5 reloads everything, Ctrl+D discovers ComfyUI servers.
A ``settings.changed`` event ({"sections": [...]}) refreshes the fields of those sections only, and
never a field the user changed since it was loaded or saved (those unsaved edits are kept and the
status line says so). Each tab scrolls when the dock is small.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
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

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.panels import scrolling
from comfyvn.gui.panels.flags import FlagsPanel
from comfyvn.gui.panels.settings_discover import DiscoverySection
from comfyvn.gui.widgets import StatusLine

PROVIDER_COLUMNS = ["id", "kind", "base_url", "enabled", "health"]
PORT_RANGE = 50  # ports Find Open Port tries
SECTION_FIELDS = {"server": ("host", "port"), "render": ("render",)}  # settings section -> the fields showing it


class SettingsPanel(DiscoverySection, QWidget):
    def __init__(self, bridge: ServerBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings: dict[str, Any] = {}
        self.loaded: dict[str, Any] = {}  # field -> what it showed when last loaded or saved
        self.providers: list[dict[str, Any]] = []
        self.found: list[dict[str, Any]] = []  # the last discovery's servers
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(True)
        self.tabs.addTab(scrolling(self._server_tab()), "&Server")
        self.tabs.addTab(scrolling(self._providers_tab()), "&Providers")
        self.tabs.addTab(scrolling(self._render_tab()), "&Render")
        self.flags = FlagsPanel(bridge)
        self.tabs.addTab(self.flags, "&Debug && Flags")
        self.tabs.setTabToolTip(3, "Debug & Feature Flags")
        self.status = StatusLine("Loading settings…")
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
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
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.connected = QLabel(self.bridge.base_url)
        self.connected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.find_port_button = QPushButton("Find free &port")
        self.find_port_button.setToolTip("Ask the server for a port its machine can bind, from this one up")
        self.find_port_button.clicked.connect(self.find_open_port)
        port_row = QHBoxLayout()
        port_row.addWidget(self.port_spin, 1)
        port_row.addWidget(self.find_port_button)
        self.save_server_button = QPushButton("Save")
        self.save_server_button.setToolTip("Save the server settings (Ctrl+S)")
        self.save_server_button.clicked.connect(self.save_server)
        note = QLabel("Host and port apply the next time the server starts.")
        note.setWordWrap(True)
        form.addRow("Connected to", self.connected)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", port_row)
        form.addRow(note)
        form.addRow(self.save_server_button)
        return tab

    def _providers_tab(self) -> QWidget:
        tab = QWidget()
        self.provider_table = QTableWidget(0, len(PROVIDER_COLUMNS))
        self.provider_table.setHorizontalHeaderLabels(PROVIDER_COLUMNS)
        self.provider_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.provider_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.provider_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.provider_table.setMinimumHeight(80)
        self.new_id = QLineEdit()
        self.new_id.setPlaceholderText("id, e.g. gpu-box")
        self.new_url = QLineEdit()
        self.new_url.setPlaceholderText("ComfyUI URL, e.g. http://127.0.0.1:8188")
        self.add_button = QPushButton("&Add")
        self.add_button.setToolTip("Add a ComfyUI provider with this id and URL")
        self.add_button.clicked.connect(self.add_provider)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_id, 1)
        add_row.addWidget(self.new_url, 2)
        add_row.addWidget(self.add_button)
        buttons = QGridLayout()  # two by two: fits a narrow dock
        self.check_button = QPushButton("Check")
        self.check_all_button = QPushButton("Check a&ll")
        self.toggle_button = QPushButton("&On/off")
        self.remove_button = QPushButton("Re&move")
        for index, (button, slot, tip) in enumerate((
                (self.check_button, self.check_selected, "Health-check the selected provider"),
                (self.toggle_button, self.toggle_selected, "Enable or disable the selected provider"),
                (self.check_all_button, self.check_all, "Health-check every enabled provider"),
                (self.remove_button, self.remove_selected, "Remove the selected provider"))):
            button.clicked.connect(slot)
            button.setToolTip(tip)
            buttons.addWidget(button, index % 2, index // 2)
        buttons.setColumnStretch(2, 1)
        column = QVBoxLayout(tab)
        column.addWidget(self.provider_table, 2)
        column.addLayout(buttons)
        column.addLayout(add_row)
        column.addWidget(self._discover_box(), 1)
        return tab

    def _render_tab(self) -> QWidget:
        tab = QWidget()
        self.render_edit = QPlainTextEdit()
        self.render_edit.setPlaceholderText('{"prompt_overrides": {"*": {"suffix": "masterpiece"}}}')
        self.render_edit.setMinimumHeight(80)
        self.save_render_button = QPushButton("Save")
        self.save_render_button.setToolTip("Save the render settings (Ctrl+S)")
        self.save_render_button.clicked.connect(self.save_render)
        label = QLabel("The render.* settings as JSON (merged into the stored settings on save):")
        label.setWordWrap(True)
        column = QVBoxLayout(tab)
        column.addWidget(label)
        column.addWidget(self.render_edit, 1)
        column.addWidget(self.save_render_button)
        return tab

    # -- loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """F5: every field from the stored settings (unsaved edits are dropped), and the providers."""
        self.bridge.get("/settings/get", on_done=self._on_settings, on_error=self._error, owner=self)
        self.load_providers()

    def _error(self, error: BridgeError) -> None:
        self.status.say(f"Error: {error.message}", error=True)

    def _say(self, text: str) -> None:
        self.status.say(text)

    def _on_settings(self, answer: dict[str, Any]) -> None:
        self.settings = answer.get("settings") or {}
        self._show_fields(list(self._current_all()), force=True)
        self._say(f"Settings from {answer.get('path', 'the server')}.")

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name == "settings.changed":  # saved here or elsewhere: refresh the sections it names
            sections = payload.get("sections")
            if not isinstance(sections, list):
                sections = list(SECTION_FIELDS)
            fields = [f for section in sections for f in SECTION_FIELDS.get(str(section), ())]
            if fields:
                self.bridge.get("/settings/get", on_done=lambda a: self._on_changed(a, fields), on_error=self._error,
                                owner=self)
        elif name == "on_compute_health_changed":
            self.load_providers()

    def _on_changed(self, answer: dict[str, Any], fields: list[str]) -> None:
        self.settings = answer.get("settings") or self.settings
        kept = self._show_fields(fields, force=False)
        if kept:
            self._say(f"Settings were changed elsewhere; your unsaved {', '.join(kept)} edits are kept "
                      "(F5 loads the stored values).")

    # -- fields: what is stored, what is shown, and whether the user changed it ----------------------

    def _stored(self, field: str) -> Any:
        if field == "render":
            return self.settings.get("render") or {}
        server = self.settings.get("server") or {}
        return str(server.get("host", "127.0.0.1")) if field == "host" else int(server.get("port", 8001))

    def _current(self, field: str) -> Any:
        if field == "host":
            return self.host_edit.text()
        if field == "port":
            return self.port_spin.value()
        text = self.render_edit.toPlainText()
        try:
            return json.loads(text or "{}")
        except ValueError:
            return text  # not JSON (yet): certainly an edit

    def _current_all(self) -> dict[str, Any]:
        return {field: self._current(field) for fields in SECTION_FIELDS.values() for field in fields}

    def _put(self, field: str, value: Any) -> None:
        if field == "host":
            self.host_edit.setText(value)
        elif field == "port":
            self.port_spin.setValue(value)
        else:
            self.render_edit.setPlainText(json.dumps(value, indent=2, sort_keys=True))

    def edited(self) -> list[str]:
        """The fields the user changed since they were last loaded or saved."""
        return [field for field, value in self._current_all().items() if value != self.loaded.get(field)]

    def _show_fields(self, fields: list[str], *, force: bool) -> list[str]:
        """Show the stored value of each field the user has not changed (``force``: of every field);
        the fields whose unsaved edits were kept are returned."""
        kept = []
        for field in fields:
            stored, current = self._stored(field), self._current(field)
            if current == stored:
                self.loaded[field] = current
            elif force or current == self.loaded.get(field):
                self._put(field, stored)
                self.loaded[field] = self._current(field)
            else:
                kept.append(field)
        return kept

    # -- server ---------------------------------------------------------------------------------

    def find_open_port(self) -> None:
        """Ask the server for a port its machine can bind on the chosen host, from the chosen port up."""
        host, start = self.host_edit.text().strip() or "127.0.0.1", self.port_spin.value()
        self.find_port_button.setEnabled(False)
        self._say(f"Asking the server for a free port on {host} from {start}…")
        self.bridge.get("/api/system/open_port", params={"host": host, "start": start, "count": PORT_RANGE},
                        on_done=self._on_port, on_error=self._on_port_error, owner=self)

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
        self.bridge.post("/settings/save", body, on_done=lambda a: self._saved(a, "server"), on_error=self._error,
                         owner=self)

    def _saved(self, answer: dict[str, Any], section: str) -> None:
        self.settings = answer.get("settings") or self.settings
        self._show_fields(list(SECTION_FIELDS[section]), force=True)  # as stored (normalised): the new baseline
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
        # the tab shows the whole section, so saving replaces it (a key deleted here is deleted)
        self.bridge.post("/settings/set", {"key": "render", "value": render},
                         on_done=lambda a: self._saved(a, "render"), on_error=self._error, owner=self)

    def save_current(self) -> None:
        if self.tabs.currentIndex() == 0:
            self.save_server()
        elif self.tabs.currentIndex() == 2:
            self.save_render()

    # -- providers ------------------------------------------------------------------------------

    def load_providers(self) -> None:
        self.bridge.get("/api/providers", on_done=self._on_providers, on_error=self._error, owner=self)

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
        self.bridge.call("POST", "/api/providers", json_body=body, on_error=self._error, owner=self,
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
        self.bridge.post(f"/api/providers/{provider}/check", {}, on_error=self._error, owner=self,
                         on_done=lambda a: (self._say(f"{a['provider']}: {a.get('status')}"
                                                      + (f" ({a['error']})" if a.get("error") else "")),
                                            self.load_providers()))

    def toggle_selected(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self._say("Select a provider first.")
            return
        enabled = not next(p for p in self.providers if p["id"] == provider).get("enabled")
        self.bridge.call("PATCH", f"/api/providers/{provider}", json_body={"enabled": enabled}, owner=self,
                         on_error=self._error,
                         on_done=lambda _a: (self._say(f"{provider} {'enabled' if enabled else 'disabled'}."),
                                             self.load_providers()))

    def remove_selected(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self._say("Select a provider first.")
            return
        self.bridge.call("DELETE", f"/api/providers/{provider}", on_error=self._error, owner=self,
                         on_done=lambda _a: (self._say(f"Removed {provider}."), self.load_providers()))
