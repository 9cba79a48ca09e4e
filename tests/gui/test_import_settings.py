"""Import Roleplay dialog, Feature Flags panel and Settings panel, driven through their widgets
against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from tests.gui.conftest import screenshot

ROOT = Path(__file__).resolve().parents[2]
LANTERN = ROOT / "examples" / "lantern_cafe_chat.jsonl"
SYNTHETIC = ROOT.parent / "shared" / "fixtures" / "sillytavern" / "synthetic"


@pytest.fixture
def dialog(qtbot, bridge):
    from comfyvn.gui.dialogs.import_roleplay import ImportRoleplayDialog

    made = ImportRoleplayDialog(bridge)
    qtbot.addWidget(made)
    made.show()
    return made


def _import(qtbot, dialog, path: Path) -> None:
    dialog.path_edit.setText(str(path))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.scenes.count() > 0 or dialog.status.text().startswith("Error"), timeout=60000)


def test_import_a_chat_map_a_speaker_and_open_a_scene(qtbot, dialog, live_server):
    httpx.post(f"{live_server}/api/characters", json={"id": "bea", "name": "Barista Bea"}).raise_for_status()
    _import(qtbot, dialog, LANTERN)
    assert not dialog.status.text().startswith("Error"), dialog.status.text()
    assert "sillytavern" in dialog.format_label.text()
    people = [dialog.participants.item(i).text() for i in range(dialog.participants.count())]
    assert any(p.startswith("Mira") for p in people) and any(p.startswith("Rowan") for p in people)
    assert "Mira" in dialog.preview_text.toPlainText()
    qtbot.waitUntil(lambda: dialog.mapping.rowCount() > 0 and isinstance(dialog.mapping.cellWidget(0, 2), QComboBox)
                    and dialog.mapping.cellWidget(0, 2).findText("Barista Bea") >= 0, timeout=10000)
    screenshot(dialog, "import_roleplay")
    rows = {dialog.mapping.item(r, 0).text(): r for r in range(dialog.mapping.rowCount())}
    combo = dialog.mapping.cellWidget(rows["Mira"], 2)
    combo.setCurrentIndex(combo.findText("Barista Bea"))
    assert dialog.speaker_map() == {"Mira": "Barista Bea"}
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(dialog.participants.item(i).text().startswith("Barista Bea")
                                for i in range(dialog.participants.count())), timeout=20000)
    scene = dialog.scenes.item(0).text()
    lines = httpx.get(f"{live_server}/api/scenes/{scene}").json()
    assert "bea" in json.dumps(lines)
    with qtbot.waitSignal(dialog.opened, timeout=5000) as opened:
        qtbot.keyClick(dialog, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert opened.args == [scene]


def test_a_large_chat_imports_as_a_job_with_progress(qtbot, dialog, tmp_path):
    head = {"user_name": "Rowan", "character_name": "Mira", "create_date": "2026-11-20@19h30m00s"}
    lines = [json.dumps(head)]
    for n in range(2400):
        speaker, user = ("Rowan", True) if n % 2 else ("Mira", False)
        lines.append(json.dumps({"name": speaker, "is_user": user, "is_system": False, "send_date": "2026-11-20",
                                 "mes": f"Line {n}: " + "the rain keeps falling on the lantern cafe. " * 10}))
    big = tmp_path / "big chat.jsonl"
    big.write_text("\n".join(lines), encoding="utf-8")
    assert big.stat().st_size > 1 << 20
    seen = []
    dialog.progress.valueChanged.connect(seen.append)
    _import(qtbot, dialog, big)
    assert not dialog.status.text().startswith("Error"), dialog.status.text()
    assert dialog.scenes.count() >= 16  # a scene every 150 messages
    assert dialog.summary and dialog.summary["messages"] == 2400
    assert dialog.last_job_id and seen and max(seen) > 0


def test_a_folder_imports_through_the_library_importer(qtbot, dialog, tmp_path):
    user = tmp_path / "default-user"
    chats = user / "chats" / "Seraphina"
    chats.mkdir(parents=True)
    chat = "Seraphina - 2024-09-28@01h00m07s.jsonl"
    (chats / chat).write_bytes((SYNTHETIC / chat).read_bytes())
    _import(qtbot, dialog, user)
    assert not dialog.status.text().startswith("Error"), dialog.status.text()
    assert "1 chat(s)" in dialog.status.text() and dialog.uid
    assert "Seraphina" in dialog.preview_text.toPlainText()


def test_server_errors_are_shown(qtbot, dialog, tmp_path):
    bad = tmp_path / "notes.jsonl"
    bad.write_text("{not json at all\n", encoding="utf-8")
    dialog.path_edit.setText(str(bad))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Error"), timeout=20000)
    assert "notes.jsonl" in dialog.status.text() and dialog.import_button.isEnabled()


@pytest.fixture
def flag_bridge(qtbot, live_server, monkeypatch):
    """A bridge also subscribed to flags.changed and settings.changed (proposed for bridge.TOPICS)."""
    from comfyvn.gui import bridge as bridge_module

    monkeypatch.setattr(bridge_module, "TOPICS", [*bridge_module.TOPICS, "modder.flags.changed",
                                                  "modder.settings.changed"])
    made = bridge_module.ServerBridge(live_server)
    made.start()
    qtbot.waitUntil(lambda: made.online, timeout=10000)
    yield made
    made.stop()


def test_flags_toggle_persists_and_follows_other_clients(qtbot, flag_bridge, live_server):
    from comfyvn.gui.panels.flags import FlagsPanel

    panel = FlagsPanel(flag_bridge)
    qtbot.addWidget(panel)
    panel.resize(520, 640)
    panel.show()
    qtbot.waitUntil(lambda: "enable_battle" in panel.rows, timeout=10000)
    row = panel.rows["enable_battle"]
    assert "battle" in row.meta.text() and row.description.text()
    screenshot(panel, "flags")
    before = row.toggle.isChecked()
    try:
        qtbot.mouseClick(row.toggle, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "(saved)" in panel.status.text(), timeout=10000)
        assert httpx.get(f"{live_server}/api/flags/enable_battle").json()["enabled"] is (not before)
        # another client switches it back: the toggle follows through flags.changed
        httpx.post(f"{live_server}/api/flags/enable_battle", json={"enabled": before}).raise_for_status()
        qtbot.waitUntil(lambda: row.toggle.isChecked() is before, timeout=10000)
        assert "elsewhere" in panel.status.text()
        qtbot.keyClicks(panel.filter_edit, "hardening")
        assert row.isHidden() and not panel.rows["enable_comfy_bridge_hardening"].isHidden()
    finally:
        httpx.post(f"{live_server}/api/flags/enable_battle", json={"enabled": before})


def test_flags_errors_are_shown(qtbot, bridge):
    from comfyvn.gui.panels.flags import FlagsPanel

    panel = FlagsPanel(bridge)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: bool(panel.rows), timeout=10000)
    panel._on_flags({"flags": [{"name": "no_such_flag", "owner": "nobody", "default": False, "enabled": False}]})
    qtbot.mouseClick(panel.rows["no_such_flag"].toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text().startswith("Error"), timeout=5000)
    assert "no_such_flag" in panel.status.text() and not panel.rows["no_such_flag"].toggle.isChecked()


def test_settings_server_render_providers_and_flags(qtbot, flag_bridge, live_server):
    from comfyvn.gui.panels.settings import SettingsPanel

    panel = SettingsPanel(flag_bridge)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Settings from") and panel.provider_table.rowCount() > 0,
                    timeout=10000)
    assert panel.host_edit.text() and panel.port_spin.value() > 0
    screenshot(panel, "settings")
    # Find Open Port: a worker thread probes; the spin box gets a free port
    qtbot.mouseClick(panel.find_port_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "is free" in panel.status.text(), timeout=10000)
    panel.port_spin.setValue(18123)
    qtbot.keyClick(panel.port_spin, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: panel.status.text() == "Saved the server settings.", timeout=10000)
    assert httpx.get(f"{live_server}/settings/get", params={"key": "server.port"}).json()["value"] == 18123
    # render settings: bad JSON is refused in the panel, good JSON is saved
    panel.tabs.setCurrentIndex(2)
    screenshot(panel, "settings_render")
    panel.render_edit.setPlainText("{oops")
    qtbot.mouseClick(panel.save_render_button, Qt.MouseButton.LeftButton)
    assert panel.status.text().startswith("Error") and "JSON" in panel.status.text()
    panel.render_edit.setPlainText('{"prompt_overrides": {"*": {"suffix": "masterpiece"}}}')
    qtbot.mouseClick(panel.save_render_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text() == "Saved the render settings.", timeout=10000)
    got = httpx.get(f"{live_server}/settings/get", params={"key": "render.prompt_overrides"}).json()["value"]
    assert got == {"*": {"suffix": "masterpiece"}}
    # another client changes a setting: settings.changed reloads the panel
    httpx.post(f"{live_server}/settings/set", json={"key": "server.port", "value": 18124}).raise_for_status()
    qtbot.waitUntil(lambda: panel.port_spin.value() == 18124, timeout=10000)
    # providers: add an unreachable ComfyUI, check it (down, error shown), remove it
    panel.tabs.setCurrentIndex(1)
    qtbot.keyClicks(panel.new_id, "gpu-box")
    qtbot.keyClicks(panel.new_url, "http://127.0.0.1:9")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(p["id"] == "gpu-box" for p in panel.providers), timeout=10000)
    panel.provider_table.selectRow([p["id"] for p in panel.providers].index("gpu-box"))
    qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text().startswith("gpu-box: down"), timeout=15000)
    row = [p["id"] for p in panel.providers].index("gpu-box")
    qtbot.waitUntil(lambda: panel.provider_table.item(row, 4).text().startswith("down"), timeout=10000)
    screenshot(panel, "settings_providers")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)  # empty id and URL: the server refuses
    qtbot.waitUntil(lambda: panel.status.text().startswith("Error"), timeout=10000)
    panel.provider_table.selectRow([p["id"] for p in panel.providers].index("gpu-box"))
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(p["id"] != "gpu-box" for p in panel.providers), timeout=10000)
    # the flags tab is the Feature Flags panel
    panel.tabs.setCurrentIndex(3)
    qtbot.waitUntil(lambda: "enable_battle" in panel.flags.rows, timeout=10000)
