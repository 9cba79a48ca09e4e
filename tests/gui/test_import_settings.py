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
    # Find Open Port: the server answers (more in test_settings_find_open_port_asks_the_server)
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


def test_settings_find_open_port_asks_the_server(qtbot, bridge, live_server):
    import socket

    from comfyvn.gui.panels.settings import SettingsPanel

    panel = SettingsPanel(bridge)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Settings from"), timeout=10000)
    with socket.socket() as busy:  # a port something listens on is skipped
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        panel.host_edit.setText("127.0.0.1")
        panel.port_spin.setValue(taken)
        qtbot.mouseClick(panel.find_port_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "is free" in panel.status.text(), timeout=10000)
        expected = httpx.get(f"{live_server}/api/system/open_port",
                             params={"host": "127.0.0.1", "start": taken, "count": 50}).json()["port"]
    assert panel.port_spin.value() == expected and expected > taken and panel.find_port_button.isEnabled()
    panel.host_edit.setText("192.0.2.1")  # not an address of the server's machine: the error is shown
    qtbot.mouseClick(panel.find_port_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text().startswith("Error"), timeout=10000)
    assert "192.0.2.1" in panel.status.text() and panel.port_spin.value() == expected


def test_settings_discover_and_add_a_comfyui_server(qtbot, bridge, live_server, tmp_path):
    from comfyvn.gui.panels.settings import SettingsPanel
    from tests.support.comfy_server import FakeComfyUI

    panel = SettingsPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1000, 680)
    panel.show()
    panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.provider_table.rowCount() > 0, timeout=10000)
    with FakeComfyUI(tmp_path / "comfy") as comfy:
        try:
            panel.discover_port.setValue(comfy.port)
            qtbot.keyClick(panel.discover_port, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
            qtbot.waitUntil(lambda: panel.status.text().startswith(("Found", "No ComfyUI", "Error")), timeout=20000)
            assert panel.status.text().startswith("Found"), panel.status.text()
            urls = [panel.found_table.item(r, 0).text() for r in range(panel.found_table.rowCount())]
            assert comfy.base_url in urls
            row = urls.index(comfy.base_url)
            assert panel.found_table.item(row, 1).text() == "0.3.64" and "cpu" in panel.found_table.item(row, 2).text()
            add = panel.found_table.cellWidget(row, 3)
            assert add.text() == "Add" and add.isEnabled()
            qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: any(p.get("base_url") == comfy.base_url for p in panel.providers), timeout=10000)
            listed = httpx.get(f"{live_server}/api/providers").json()["providers"]
            added = next(p for p in listed if p["base_url"] == comfy.base_url)
            assert added["id"] == f"comfyui-local-{comfy.port}" and "0.3.64" in added["label"]
            assert panel.found_table.cellWidget(row, 3).text() == f"added as {added['id']}"
            assert not panel.found_table.cellWidget(row, 3).isEnabled()
            screenshot(panel, "settings_discover")
            # discovering again marks it registered on the server's side too
            qtbot.mouseClick(panel.discover_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: panel.discover_button.isEnabled(), timeout=20000)
            again = [s for s in panel.found if s["base_url"] == comfy.base_url]
            assert again and again[0]["registered"] == added["id"], panel.status.text()
            # a host that is not a host name: the server's refusal is shown
            panel.discover_host.setText("http://nope/")
            qtbot.mouseClick(panel.discover_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: panel.status.text().startswith("Error"), timeout=10000)
            assert "nope" in panel.status.text() and panel.discover_button.isEnabled()
        finally:
            for provider in httpx.get(f"{live_server}/api/providers").json()["providers"]:
                if provider.get("base_url") == comfy.base_url:
                    httpx.delete(f"{live_server}/api/providers/{provider['id']}")


def _watch_changes(panel) -> list[list[str]]:
    """The fields each settings.changed refresh looked at, once it has been shown."""
    seen: list[list[str]] = []
    real = panel._on_changed
    panel._on_changed = lambda answer, fields: (real(answer, fields), seen.append(list(fields)))
    return seen


def test_settings_keep_unsaved_edits_across_saves_and_other_clients(qtbot, bridge, live_server):
    from comfyvn.gui.panels.settings import SettingsPanel

    before = httpx.get(f"{live_server}/settings/get").json()["settings"]
    panel = SettingsPanel(bridge)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Settings from"), timeout=10000)
    seen = _watch_changes(panel)
    try:
        # unsaved Render JSON survives saving the Server tab (and the settings.changed it causes)
        panel.tabs.setCurrentIndex(2)
        panel.render_edit.clear()
        qtbot.keyClicks(panel.render_edit, '{"unsaved": true}')
        panel.tabs.setCurrentIndex(0)
        panel.port_spin.setValue(18200)
        qtbot.keyClick(panel.port_spin, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: panel.status.text() == "Saved the server settings." and ["host", "port"] in seen,
                        timeout=10000)
        assert panel.render_edit.toPlainText() == '{"unsaved": true}' and panel.edited() == ["render"]
        # another client saves the render section while the port is edited: the port stays,
        # and the unsaved render text too (said in the status line)
        panel.port_spin.setValue(18201)
        httpx.post(f"{live_server}/settings/save", json={"settings": {"render": {"by": "other"}}}).raise_for_status()
        qtbot.waitUntil(lambda: ["render"] in seen, timeout=10000)
        assert panel.port_spin.value() == 18201 and panel.render_edit.toPlainText() == '{"unsaved": true}'
        assert "kept" in panel.status.text() and "render" in panel.status.text()
        # F5 loads the stored values; then fields nobody edited follow other clients
        qtbot.keyClick(panel.port_spin, Qt.Key.Key_F5)
        qtbot.waitUntil(lambda: panel.port_spin.value() == 18200 and '"other"' in panel.render_edit.toPlainText(),
                        timeout=10000)
        assert panel.edited() == []
        seen.clear()
        httpx.post(f"{live_server}/settings/set", json={"key": "server.port", "value": 18202}).raise_for_status()
        httpx.post(f"{live_server}/settings/save", json={"settings": {"render": {"by": "third"}}}).raise_for_status()
        qtbot.waitUntil(lambda: panel.port_spin.value() == 18202 and '"third"' in panel.render_edit.toPlainText(),
                        timeout=10000)
        # saving the Render tab replaces the section (a deleted key is gone) and shows what was stored
        panel.tabs.setCurrentIndex(2)
        panel.render_edit.setPlainText('{"a": 1}')
        panel.save_render()
        qtbot.waitUntil(lambda: panel.status.text() == "Saved the render settings.", timeout=10000)
        assert httpx.get(f"{live_server}/settings/get").json()["settings"]["render"] == {"a": 1}
        # a host saved with a stray space is stored trimmed: the field shows that, nothing counts as edited
        panel.tabs.setCurrentIndex(0)
        panel.host_edit.setText("127.0.0.1 ")
        panel.save_server()
        qtbot.waitUntil(lambda: panel.status.text() == "Saved the server settings.", timeout=10000)
        qtbot.wait(200)  # the settings.changed event of our own save comes too
        assert panel.host_edit.text() == "127.0.0.1" and panel.edited() == [] and "kept" not in panel.status.text()
    finally:
        httpx.post(f"{live_server}/settings/save", json={"settings": {"server": before.get("server") or {},
                                                                      "render": before.get("render") or {}}})


def test_settings_answers_after_the_panel_is_gone_are_dropped(qtbot, bridge, monkeypatch):
    from comfyvn.gui.panels.settings import SettingsPanel

    futures = []
    real_call = bridge.call
    monkeypatch.setattr(bridge, "call", lambda *a, **k: futures.append(real_call(*a, **k)) or futures[-1])
    panel = SettingsPanel(bridge)
    qtbot.waitUntil(lambda: panel.status.text().startswith("Settings from"), timeout=10000)
    panel.save_render()  # lambda callbacks under way (the stored values, saved again)...
    panel.save_server()
    panel.check_all()
    panel._on_event("settings.changed", {"sections": ["server", "render"]})
    with qtbot.waitSignal(panel.destroyed, timeout=5000):
        panel.deleteLater()  # ...when the panel goes: their answers must not reach it
    qtbot.waitUntil(lambda: all(f.done() for f in futures), timeout=10000)
    last = []
    real_call("GET", "/health", on_done=last.append)  # answers arrive in order: this one comes last
    qtbot.waitUntil(lambda: bool(last), timeout=10000)


# -- Import Roleplay: preview (dry run) before importing ------------------------------------------

GROUP_CHAT = SYNTHETIC / "group chats__2024-09-28@02h10m00s.jsonl"


def _scene_ids(live_server: str) -> set[str]:
    return {s["id"] for s in httpx.get(f"{live_server}/api/scenes").json()["items"]}


def test_preview_before_import_then_map_import_and_open(qtbot, dialog, live_server, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    if not GROUP_CHAT.exists():
        pytest.skip("shared fixtures not present")
    httpx.post(f"{live_server}/api/characters", json={"id": "captain-nyx", "name": "Captain Nyx"}).raise_for_status()
    before = _scene_ids(live_server)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (str(GROUP_CHAT), "")))
    qtbot.keyClick(dialog, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)  # choose a file: it previews at once
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Error") or (
        dialog.preview.get("dry_run") is True and dialog.mapping.rowCount() > 0
        and isinstance(dialog.mapping.cellWidget(0, 2), QComboBox)
        and dialog.mapping.cellWidget(0, 2).findText("Captain Nyx") >= 0), timeout=20000)
    assert not dialog.status.text().startswith("Error"), dialog.status.text()
    assert "sillytavern" in dialog.format_label.text() and "nothing imported yet" in dialog.format_label.text()
    people = [dialog.participants.item(i).text() for i in range(dialog.participants.count())]
    assert any(p.startswith("Seraphina") for p in people) and any(p.startswith("Aria") for p in people)
    assert "Aria" in dialog.preview_text.toPlainText() and dialog.scenes.count() > 0
    # nothing is stored: no new scene, no stored preview; the mapping is open, Apply and Open are not yet
    uid = dialog.preview["uid"]
    assert _scene_ids(live_server) == before and dialog.uid is None
    assert httpx.get(f"{live_server}/roleplay/preview/{uid}").status_code == 404
    assert dialog.mapping.isEnabled() and not dialog.apply_button.isEnabled() and not dialog.open_button.isEnabled()
    rows = {dialog.mapping.item(r, 0).text(): r for r in range(dialog.mapping.rowCount())}
    combo = dialog.mapping.cellWidget(rows["Aria"], 2)
    combo.setCurrentIndex(combo.findText("Captain Nyx"))
    dialog.swipes_check.setChecked(True)  # changing an option previews again and keeps the mapping
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Preview (") and dialog.speaker_map().get("Aria")
                    == "Captain Nyx", timeout=20000)
    screenshot(dialog, "import_preview")
    # import: the mapping chosen in the preview is applied right after, then the stored preview shows
    qtbot.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Error") or (
        dialog.uid == uid and not dialog.preview.get("dry_run") and any(
            dialog.participants.item(i).text().startswith("Captain Nyx") for i in range(dialog.participants.count()))),
        timeout=30000)
    assert not dialog.status.text().startswith("Error"), dialog.status.text()
    assert dialog.status.text().startswith("Mapped") and dialog.open_button.isEnabled()
    scene = dialog.scenes.item(0).text()
    assert scene in _scene_ids(live_server) - before
    assert "captain-nyx" in json.dumps(httpx.get(f"{live_server}/api/scenes/{scene}").json())
    with qtbot.waitSignal(dialog.opened, timeout=5000) as opened:
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened.args == [scene]


def test_typed_paths_preview_on_enter_folders_and_errors(qtbot, dialog, live_server, tmp_path):
    before = _scene_ids(live_server)
    bad = tmp_path / "notes.jsonl"
    bad.write_text("{not json at all\n", encoding="utf-8")
    dialog.path_edit.setFocus()
    qtbot.keyClicks(dialog.path_edit, str(bad))
    qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Return)  # Enter in the path field previews, never imports
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Error"), timeout=20000)
    assert "notes.jsonl" in dialog.status.text() and dialog.mapping.rowCount() == 0
    chats = tmp_path / "default-user" / "chats" / "Seraphina"
    chats.mkdir(parents=True)
    chat = "Seraphina - 2024-09-28@01h00m07s.jsonl"
    (chats / chat).write_bytes((SYNTHETIC / chat).read_bytes())
    dialog.path_edit.setText(str(tmp_path / "default-user"))
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("Error", "Preview (")), timeout=20000)
    assert "1 chats" in dialog.status.text(), dialog.status.text()
    assert f"chat: chats/Seraphina/{chat}" in dialog.preview_text.toPlainText()
    assert _scene_ids(live_server) == before


def test_import_file_or_folder_goes_by_what_was_picked_not_by_the_disk(qtbot, dialog, bridge, tmp_path,
                                                                         monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    sent: list[str] = []
    request = bridge.request

    def recording(method, path, **kwargs):
        sent.append(path)
        return request(method, path, **kwargs)

    monkeypatch.setattr(bridge, "request", recording)

    def preview(start) -> None:
        sent.clear()
        start()
        qtbot.waitUntil(lambda: dialog.status.text().startswith(("Error", "Preview (")), timeout=20000)

    chatty = tmp_path / "backup.jsonl"  # a FOLDER with a chat log's name: Folder… says what it is
    (chatty / "chats").mkdir(parents=True)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args, **kwargs: str(chatty)))
    preview(lambda: qtbot.keyClick(dialog, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier
                                   | Qt.KeyboardModifier.ShiftModifier))
    assert dialog.path_edit.text() == str(chatty) and sent[0] == "/st/import", sent
    odd = tmp_path / "lantern.backup"  # a FILE without a chat extension: File… says what it is
    odd.write_bytes(LANTERN.read_bytes())
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *args, **kwargs: (str(odd), "")))
    preview(lambda: qtbot.keyClick(dialog, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier))
    assert sent[0] == "/roleplay/import", sent
    # typed: a chat extension is a file to upload; anything else is a path the SERVER reads
    dialog.path_edit.setText(str(LANTERN))
    preview(dialog.start_preview)
    assert sent[0] == "/roleplay/import" and dialog.status.text().startswith("Preview ("), dialog.status.text()
    dialog.path_edit.setText(str(tmp_path / "not-here" / "default-user"))
    preview(dialog.start_preview)
    assert sent == ["/st/import"] and dialog.status.text().startswith("Error"), (sent, dialog.status.text())
    assert not dialog.is_folder(str(odd)) and not dialog.is_folder("a/b.JSONL") and dialog.is_folder("a/b")


def test_import_dialog_deleted_on_close_drops_its_answers(qtbot, bridge, tmp_path, monkeypatch):
    """app.py opens the dialog with WA_DeleteOnClose (one per Ctrl+I): answers after closing are dropped."""
    from comfyvn.gui.dialogs.import_roleplay import ImportRoleplayDialog
    from tests.gui.test_inspectors_extra import answers_after_deletion

    folder = tmp_path / "default-user"
    (folder / "chats").mkdir(parents=True)
    for path, start in ((LANTERN, "start_preview"), (folder, "start_preview"), (LANTERN, "start_import")):
        def make(path=path, start=start):
            made = ImportRoleplayDialog(bridge)
            made.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            made.show()
            made.path_edit.setText(str(path))
            getattr(made, start)()
            return made

        assert answers_after_deletion(qtbot, bridge, monkeypatch, make, delete=lambda d: d.close()) >= 1, path
