"""The Character Designer, the Asset Gallery and the Scenes/Characters/Timeline inspectors,
driven through their widgets against a real server on a loopback port."""

from __future__ import annotations

import io
import json

import httpx
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidgetItem

from comfyvn.gui.designer import DesignerPane
from comfyvn.gui.panels.assets import AssetGallery
from comfyvn.gui.panels.inspectors import (
    CharactersInspector,
    ScenesInspector,
    TimelineInspector,
)
from tests.gui.conftest import screenshot

WAIT = 20000


def _png(colour: tuple[int, int, int], size: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return out.getvalue()


def _upload(base: str, name: str, colour: tuple[int, int, int], tags: list[str]) -> dict:
    answer = httpx.post(f"{base}/assets/upload", files={"file": (name, _png(colour), "image/png")},
                        data={"project": "default", "tags": ",".join(tags), "type": "background"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["asset"]


def test_designer_edits_saves_and_renders_sprites(qtbot, bridge, live_server):
    created = httpx.post(f"{live_server}/api/characters", json={"id": "mira", "name": "Mira",
                                                                "expressions": ["neutral", "joy"]})
    assert created.status_code == 201, created.text
    pane = DesignerPane(bridge)
    qtbot.addWidget(pane)
    pane.resize(1280, 720)
    pane.show()
    qtbot.waitUntil(lambda: pane.name_edit.text() == "Mira" and pane.save_button.isEnabled(), timeout=WAIT)

    pane.appearance_edit.clear()
    qtbot.keyClicks(pane.appearance_edit, "short red hair, green apron")
    pane.expressions_edit.setText("neutral, joy, angry")
    pane.expressions_edit.editingFinished.emit()
    pane.default_box.setCurrentText("joy")
    pane.color_edit.setText("#cc3355")
    qtbot.mouseClick(pane.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.status.text().startswith("Saved"), timeout=WAIT)
    stored = httpx.get(f"{live_server}/api/characters/mira").json()
    assert stored["data"]["appearance"] == "short red hair, green apron"
    assert stored["data"]["expressions"] == ["neutral", "joy", "angry"]
    assert stored["data"]["default_expression"] == "joy" and stored["data"]["color"] == "#cc3355"
    assert pane.revision == stored["revision"]

    # someone else saves in between: the pane refuses to overwrite and says so
    httpx.patch(f"{live_server}/api/characters/mira", json={"description": "edited elsewhere"})
    pane.name_edit.setText("Mira B.")
    qtbot.keyClick(pane, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "someone else changed" in pane.status.text(), timeout=WAIT)
    assert httpx.get(f"{live_server}/api/characters/mira").json()["data"]["name"] == "Mira"

    # a LoRA stack round-trips (unknown to the registry: stored with a warning)
    pane.refresh()
    qtbot.waitUntil(lambda: pane.name_edit.text() == "Mira" and pane.add_lora_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(pane.add_lora_button, Qt.MouseButton.LeftButton)
    pane.lora_table.item(0, 0).setText("pixel_art_xl.safetensors")
    pane.lora_table.cellWidget(0, 1).setValue(0.7)
    qtbot.mouseClick(pane.save_loras_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.status.text().startswith("LoRA stack saved (1)"), timeout=WAIT)
    stack = httpx.get(f"{live_server}/api/characters/mira/loras").json()["loras"]
    assert [(s["name"], s["strength"]) for s in stack] == [("pixel_art_xl.safetensors", 0.7)]

    # sprites with the built-in renderer, as jobs; the pictures show up inline
    pane.provider_box.setCurrentText("builtin")
    qtbot.mouseClick(pane.sprites_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.status.text().startswith("Rendered"), timeout=60000)
    qtbot.waitUntil(lambda: pane.thumbnails_loaded() >= 3, timeout=WAIT)
    assert pane.renders.count() == 3 and not pane.pending_jobs
    labels = sorted(pane.renders.item(i).text().split("\n")[0] for i in range(pane.renders.count()))
    assert labels == ["angry", "joy", "neutral"]
    screenshot(pane, "designer")

    # a character created elsewhere joins the list without dropping unsaved edits
    pane.name_edit.setText("Mira (unsaved)")
    assert httpx.post(f"{live_server}/api/characters", json={"id": "zed", "name": "Zed"}).status_code == 201
    qtbot.waitUntil(lambda: pane.list.count() == 2, timeout=WAIT)
    assert pane.name_edit.text() == "Mira (unsaved)" and pane.character_id == "mira" and pane.dirty()
    asked = []
    pane.guard.ask = lambda: asked.append("asked") or "discard"  # switching asks first; Discard drops the edit
    pane.list.setCurrentRow(1)
    assert asked == ["asked"]
    qtbot.waitUntil(lambda: pane.name_edit.text() == "Zed" and pane.renders.count() == 0, timeout=WAIT)
    pane.color_edit.setText("red")
    qtbot.keyClick(pane, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert "#cc3355" in pane.status.text()


def test_designer_creates_deletes_and_saves_before_switching(qtbot, bridge, live_server):
    created = httpx.post(f"{live_server}/api/projects", json={"id": "cast_call", "name": "Cast call"})
    assert created.status_code == 201, created.text
    pane = DesignerPane(bridge, project="cast_call")  # a project of its own: empty at the start
    qtbot.addWidget(pane)
    pane.show()
    qtbot.waitUntil(lambda: "No characters" in pane.status.text(), timeout=WAIT)
    pane.ask_name = lambda: "Ada"
    qtbot.keyClick(pane, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: pane.name_edit.text() == "Ada" and pane.list.count() == 1, timeout=WAIT)
    ada = pane.character_id
    character = f"{live_server}/api/characters/{ada}?project=cast_call"
    assert httpx.get(character).json()["data"]["name"] == "Ada"
    assert not pane.dirty()

    pane.ask_name = lambda: "Bo"
    qtbot.waitUntil(pane.add_lora_button.isEnabled, timeout=WAIT)  # the stack has loaded
    pane.appearance_edit.setPlainText("a tall lighthouse keeper")  # unsaved when the new one opens
    qtbot.mouseClick(pane.add_lora_button, Qt.MouseButton.LeftButton)
    pane.lora_table.item(0, 0).setText("ink_style.safetensors")
    asked = []
    pane.guard.ask = lambda: asked.append(pane.character_id) or "save"
    qtbot.mouseClick(pane.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.name_edit.text() == "Bo" and pane.list.count() == 2, timeout=WAIT)
    assert asked == [ada]  # Save: Ada's fields and LoRA stack were stored before Bo opened
    assert httpx.get(character).json()["data"]["appearance"] == "a tall lighthouse keeper"
    loras = f"{live_server}/api/characters/{ada}/loras?project=cast_call"
    assert [s["name"] for s in httpx.get(loras).json()["loras"]] == \
        ["ink_style.safetensors"]

    pane.name_edit.setText("Bo (unsaved)")
    pane.guard.ask = lambda: "cancel"  # Cancel: the switch does not happen, the edit stays
    pane.list.setCurrentRow([pane.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(2)].index(ada))
    assert pane.name_edit.text() == "Bo (unsaved)" and pane.list.currentItem().data(Qt.ItemDataRole.UserRole) \
        == pane.character_id
    pane.name_edit.setText("Bo")

    bo = pane.character_id
    pane.ask_yes = lambda text: bo in text
    qtbot.mouseClick(pane.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.list.count() == 1 and pane.character_id == ada, timeout=WAIT)
    assert httpx.get(f"{live_server}/api/characters/{bo}?project=cast_call").status_code == 404
    pane.ask_name = lambda: None  # the name box cancelled: nothing is created
    pane.new_character()
    assert pane.list.count() == 1


def test_gallery_filters_pages_and_bulk_tags(qtbot, bridge, live_server):
    uploaded = [_upload(live_server, f"gal{i}.png", (40 * i, 120, 200 - 30 * i), ["gallery", f"n{i}"])
                for i in range(3)]
    gallery = AssetGallery(bridge, page_size=2)
    qtbot.addWidget(gallery)
    gallery.resize(1280, 720)
    gallery.show()
    qtbot.keyClicks(gallery.tag_edit, "gallery")
    qtbot.keyClick(gallery.tag_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: gallery.total == 3 and gallery.grid.count() == 2, timeout=WAIT)
    assert gallery.page_label.text() == "1-2 of 3" and gallery.next_button.isEnabled()
    qtbot.mouseClick(gallery.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gallery.offset == 2 and gallery.grid.count() == 1, timeout=WAIT)
    qtbot.mouseClick(gallery.prev_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gallery.offset == 0 and gallery.grid.count() == 2, timeout=WAIT)
    qtbot.waitUntil(lambda: gallery.loaded_thumbnails == 2, timeout=WAIT)

    # text search narrows to one asset
    qtbot.keyClicks(gallery.text_edit, "gal1")
    qtbot.keyClick(gallery.text_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: gallery.total == 1, timeout=WAIT)
    gallery.text_edit.clear()
    gallery.page_size = 50
    gallery.search()
    qtbot.waitUntil(lambda: gallery.grid.count() == 3, timeout=WAIT)

    # select two, bulk-tag them and set a licence; the sidecar inspector shows the first
    uids = [uploaded[0]["uid"], uploaded[2]["uid"]]
    for row in range(gallery.grid.count()):
        item = gallery.grid.item(row)
        item.setSelected(item.data(Qt.ItemDataRole.UserRole) in uids)
    assert sorted(gallery.selected_uids()) == sorted(uids)
    qtbot.keyClicks(gallery.add_tags, "hero, Outdoor")
    qtbot.keyClicks(gallery.license_edit, "CC-BY-4.0")
    qtbot.mouseClick(gallery.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gallery.status.text().startswith("Updated 2 asset(s)"), timeout=WAIT)
    for uid in uids:
        asset = httpx.get(f"{live_server}/assets/{uid}").json()
        assert {"hero", "outdoor"} <= set(asset["tags"]) and asset["license"] == "CC-BY-4.0"
    untouched = httpx.get(f"{live_server}/assets/{uploaded[1]['uid']}").json()
    assert "hero" not in untouched["tags"] and untouched.get("license") is None

    gallery.tag_edit.setText("gallery, hero")
    gallery.search()
    qtbot.waitUntil(lambda: gallery.total == 2 and gallery.grid.count() == 2, timeout=WAIT)
    gallery.grid.item(0).setSelected(True)
    qtbot.waitUntil(lambda: gallery.sidecar_view.toPlainText().startswith("{"), timeout=WAIT)
    sidecar = json.loads(gallery.sidecar_view.toPlainText())
    assert sidecar["uid"] in uids and "hero" in sidecar["tags"]
    qtbot.waitUntil(lambda: gallery.loaded_thumbnails == 2, timeout=WAIT)

    # an empty selection or a server refusal is reported, not swallowed
    gallery.grid.clearSelection()
    qtbot.mouseClick(gallery.apply_button, Qt.MouseButton.LeftButton)
    assert "Select one or more" in gallery.status.text()
    gallery.project = "..bad"  # an id the server refuses (422)
    gallery.search()
    qtbot.waitUntil(lambda: gallery.status.text().startswith("Error:"), timeout=WAIT)
    assert "project" in gallery.status.text()
    gallery.project = "default"
    gallery.search()
    qtbot.waitUntil(lambda: gallery.total == 2 and gallery.loaded_thumbnails == 2, timeout=WAIT)
    gallery.sidecar_view.clear()
    gallery.grid.item(1).setSelected(True)
    qtbot.waitUntil(lambda: gallery.sidecar_view.toPlainText().startswith("{"), timeout=WAIT)
    screenshot(gallery, "asset_gallery")


def test_gallery_and_designer_drop_answers_after_they_are_gone(qtbot, bridge, live_server, monkeypatch):
    from comfyvn.gui.panels.assets import load_thumbnail

    asset = _upload(live_server, "ghost.png", (90, 90, 90), ["ghost"])
    httpx.post(f"{live_server}/api/characters", json={"id": "ghost", "name": "Ghost"})
    futures = []
    real_call = bridge.call
    monkeypatch.setattr(bridge, "call", lambda *a, **k: futures.append(real_call(*a, **k)) or futures[-1])
    gallery, pane = AssetGallery(bridge), DesignerPane(bridge)
    qtbot.waitUntil(lambda: len(futures) >= 2, timeout=WAIT)  # their first lists are under way
    gallery.tag_edit.setText("ghost")
    gallery.refresh()  # lambda callbacks under way...
    gallery.grid.addItem(QListWidgetItem("ghost"))
    gallery.grid.item(0).setData(Qt.ItemDataRole.UserRole, asset["uid"])
    gallery.grid.item(0).setSelected(True)  # the sidecar is asked for
    load_thumbnail(bridge, "default", asset["uid"], lambda pixmap: gallery.grid.setIconSize(pixmap.size()),
                   lambda error: gallery.status.setText(error.message), owner=gallery)
    pane.refresh()
    pane.render_box.set_character("ghost")
    for widget in (gallery, pane):  # ...when the widgets go: their answers must not reach them
        with qtbot.waitSignal(widget.destroyed, timeout=5000):
            widget.deleteLater()
    qtbot.waitUntil(lambda: all(f.done() for f in futures), timeout=WAIT)
    last = []
    real_call("GET", "/health", on_done=last.append)  # answers arrive in order: this one comes last
    qtbot.waitUntil(lambda: bool(last), timeout=WAIT)


def test_inspectors_list_refresh_and_open(qtbot, bridge, live_server):
    scene = {"id": "intro", "title": "Intro", "start": "a",
             "nodes": [{"id": "a", "speaker": "Alice", "text": "Hello.", "next": "b"},
                       {"id": "b", "type": "choice", "choices": [{"id": "x", "label": "Go", "target": "c"},
                                                                 {"id": "y", "label": "Stay", "target": "c"}]},
                       {"id": "c", "type": "end"}]}
    assert httpx.post(f"{live_server}/api/scenes", json=scene).status_code == 201
    assert httpx.post(f"{live_server}/api/timelines", json={"id": "main", "title": "Main route",
                                                            "scenes": ["intro"]}).status_code == 201
    httpx.post(f"{live_server}/api/characters", json={"id": "alice", "name": "Alice"})
    scenes, characters, timelines = (ScenesInspector(bridge), CharactersInspector(bridge), TimelineInspector(bridge))
    for widget in (scenes, characters, timelines):
        qtbot.addWidget(widget)
        widget.resize(640, 420)
        widget.show()
    qtbot.waitUntil(lambda: "intro" in scenes.ids() and "main" in timelines.ids() and "alice" in characters.ids(),
                    timeout=WAIT)
    qtbot.waitUntil(lambda: scenes.row("intro").text(2).startswith("3 nodes"), timeout=WAIT)
    assert "2 choices" in scenes.row("intro").text(2)
    qtbot.waitUntil(lambda: "no appearance prompt" in characters.row("alice").text(3), timeout=WAIT)
    qtbot.waitUntil(lambda: timelines.row("main").text(2) == "1 scene", timeout=WAIT)

    # a change on the server refreshes the lists by itself
    before = scenes.refreshes
    later = {"id": "later", "title": "Later", "start": "a", "nodes": [{"id": "a", "text": "Bye."}]}
    assert httpx.post(f"{live_server}/api/scenes", json=later).status_code == 201
    qtbot.waitUntil(lambda: "later" in scenes.ids(), timeout=WAIT)
    assert scenes.refreshes > before
    qtbot.waitUntil(lambda: "dead_end" in scenes.row("later").text(3) or "dead" in scenes.row("later").text(3),
                    timeout=WAIT)
    httpx.patch(f"{live_server}/api/characters/alice", json={"appearance": "tall", "color": "#112233"})
    qtbot.waitUntil(lambda: characters.row("alice") is not None and characters.row("alice").text(2) != "..."
                    and characters.row("alice").text(3) == "", timeout=WAIT)
    httpx.delete(f"{live_server}/api/scenes/intro", params={"force": "true"})
    qtbot.waitUntil(lambda: "intro" not in scenes.ids(), timeout=WAIT)
    qtbot.waitUntil(lambda: "missing scene intro" in (timelines.row("main").text(3) if timelines.row("main") else ""),
                    timeout=WAIT)

    # double-click asks the main window to open the record
    row = scenes.row("later")
    scenes.tree.setCurrentItem(row)
    rect = scenes.tree.visualItemRect(row)
    with qtbot.waitSignal(scenes.open_requested, timeout=WAIT) as opened:
        qtbot.mouseClick(scenes.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(scenes.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["scene", "later"]
    with qtbot.waitSignal(timelines.open_requested, timeout=WAIT) as opened:
        timelines.tree.setCurrentItem(timelines.row("main"))
        qtbot.keyClick(timelines.tree, Qt.Key.Key_Return)
    assert opened.args == ["timeline", "main"]
    screenshot(scenes, "inspector_scenes")
    screenshot(characters, "inspector_characters")
    screenshot(timelines, "inspector_timelines")
