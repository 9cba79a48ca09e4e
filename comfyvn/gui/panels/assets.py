"""The Asset Gallery panel: search a project's assets by type, tag and text, see them as a grid of
thumbnails loaded in the background, page through them, change tags and licence of the selection
at once, and read the selected asset's ``.asset.json`` sidecar.

Endpoints: ``GET /assets``, ``GET /assets/{uid}/thumbnail`` (falling back to ``/download`` while
the thumbnail is still being made), ``GET /assets/{uid}/sidecar``, ``POST /assets/bulk``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.images import decode_later
from comfyvn.gui.panels import scrolling

TYPES = ["", "image", "background", "character.sprite", "character.portrait", "character.expression", "cg", "ui",
         "audio", "music", "sfx", "voice", "ambience"]
ICON = 128
UID_ROLE = Qt.ItemDataRole.UserRole


def load_thumbnail(bridge: ServerBridge, project: str, uid: str, on_pixmap: Callable[[QPixmap], None],
                   on_error: Callable[[BridgeError], None] | None = None, *, size: int = 256,
                   owner: QObject | None = None) -> None:
    """Fetch an asset's thumbnail in the background and hand a QPixmap to ``on_pixmap`` on the UI
    thread. While the server is still making the thumbnail (404), the file itself is used.
    Answers arriving after ``owner`` (the widget that asked) was deleted are dropped."""

    def show(data: bytes) -> None:  # the whole file: decoded off the UI thread
        decode_later(data, owner, shown)

    def shown(image: Any) -> None:
        if not image.isNull():
            on_pixmap(QPixmap.fromImage(image))
        elif on_error is not None:
            on_error(BridgeError(f"asset {uid} is not a picture"))

    def fallback(error: BridgeError) -> None:
        if error.status == 404:
            bridge.call("GET", f"/assets/{uid}/download", params={"project": project}, raw=True, on_done=show,
                        on_error=on_error, owner=owner)
        elif on_error is not None:
            on_error(error)

    bridge.call("GET", f"/assets/{uid}/thumbnail", params={"project": project, "size": size}, raw=True,
                on_done=show, on_error=fallback, owner=owner)


def icon_grid(size: int, *, extra_height: int = 40) -> QListWidget:
    """A list shown as a grid of ``size`` px icons with their names below."""
    grid = QListWidget()
    grid.setViewMode(QListWidget.ViewMode.IconMode)
    grid.setIconSize(QSize(size, size))
    grid.setGridSize(QSize(size + 24, size + extra_height))
    grid.setResizeMode(QListWidget.ResizeMode.Adjust)
    grid.setMovement(QListWidget.Movement.Static)
    grid.setWordWrap(True)
    return grid


def _tags(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]


class AssetGallery(QWidget):
    """Filters on top, the thumbnail grid with paging in the middle, the bulk editor and the sidecar
    inspector on the right. Shortcuts: Return (search), F5 (refresh), Alt+Left/Alt+Right (pages),
    Ctrl+A (select all), Ctrl+Return (apply the bulk edit)."""

    def __init__(self, bridge: ServerBridge, project: str = "default", *, page_size: int = 50,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project, self.page_size = bridge, project, page_size
        self.offset = 0
        self.total = 0
        self.items: list[dict[str, Any]] = []
        self.loaded_thumbnails = 0
        self._pixmaps: dict[str, QPixmap] = {}
        self._note = ""  # what the last action did, shown with the next search result
        self._generation = 0  # answers of an older search are dropped

        self.type_box = QComboBox()
        self.type_box.setEditable(True)
        self.type_box.addItems(TYPES)
        self.type_box.setItemText(0, "")
        self.type_box.lineEdit().setPlaceholderText("any type")
        self.tag_edit = QLineEdit(placeholderText="tags, comma separated")
        self.text_edit = QLineEdit(placeholderText="search text")
        self.search_button = QPushButton("Search")
        self.search_button.setToolTip("Search from the first page (Return)")
        filters = QHBoxLayout()
        for widget, stretch in ((QLabel("Type"), 0), (self.type_box, 1), (QLabel("Tags"), 0), (self.tag_edit, 1),
                                (QLabel("Text"), 0), (self.text_edit, 2), (self.search_button, 0)):
            filters.addWidget(widget, stretch)

        self.grid = icon_grid(ICON)
        self.grid.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.grid.setMinimumHeight(48)
        self.prev_button = QPushButton("< Prev")
        self.prev_button.setToolTip("The previous page (Alt+Left)")
        self.next_button = QPushButton("Next >")
        self.next_button.setToolTip("The next page (Alt+Right)")
        self.page_label = QLabel("")
        paging = QHBoxLayout()
        paging.addWidget(self.prev_button)
        paging.addWidget(self.page_label, 1, Qt.AlignmentFlag.AlignCenter)
        paging.addWidget(self.next_button)
        left = QWidget()
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(0, 0, 0, 0)
        left_column.addWidget(self.grid, 1)
        left_column.addLayout(paging)

        self.selection_label = QLabel("nothing selected")
        self.add_tags = QLineEdit(placeholderText="add tags: hero, outdoor")
        self.remove_tags = QLineEdit(placeholderText="remove tags")
        self.license_edit = QLineEdit(placeholderText="licence (empty: keep)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Apply the tags and licence to every selected asset (Ctrl+Return)")
        self.sidecar_view = QPlainTextEdit(readOnly=True)
        self.sidecar_view.setPlaceholderText("Select an asset to see its sidecar")
        self.sidecar_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.sidecar_view.setMinimumHeight(60)
        editor = QWidget()
        form = QFormLayout(editor)
        form.setContentsMargins(4, 0, 0, 0)
        form.addRow(self.selection_label)
        form.addRow("Add tags", self.add_tags)
        form.addRow("Remove tags", self.remove_tags)
        form.addRow("Licence", self.license_edit)
        form.addRow(self.apply_button)
        form.addRow(QLabel("Sidecar"))
        form.addRow(self.sidecar_view)
        right = scrolling(editor, minimum_height=48)  # the bulk editor scrolls when the dock is short

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        body = QWidget()
        body_column = QVBoxLayout(body)
        body_column.setContentsMargins(0, 0, 0, 0)
        body_column.addLayout(filters)
        body_column.addWidget(splitter, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 2, 4, 2)
        column.setSpacing(2)
        column.addWidget(scrolling(body), 1)  # the whole gallery scrolls in a very short dock
        column.addWidget(self.status)

        self.search_button.clicked.connect(self.search)
        for edit in (self.tag_edit, self.text_edit, self.type_box.lineEdit()):
            edit.returnPressed.connect(self.search)
        self.prev_button.clicked.connect(lambda: self._page(-1))
        self.next_button.clicked.connect(lambda: self._page(1))
        self.apply_button.clicked.connect(self.apply_bulk)
        self.grid.itemSelectionChanged.connect(self._selection_changed)
        for keys, slot in (("F5", self.refresh), ("Alt+Left", lambda: self._page(-1)),
                           ("Alt+Right", lambda: self._page(1)), ("Ctrl+Return", self.apply_bulk)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self._reload = QTimer(self, singleShot=True, interval=300, timeout=self.refresh)
        bridge.event.connect(self._on_event)
        QTimer.singleShot(0, self.refresh)

    # -- searching -----------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"project": self.project, "limit": self.page_size, "offset": self.offset}
        if self.type_box.currentText().strip():
            params["type"] = self.type_box.currentText().strip()
        if _tags(self.tag_edit.text()):
            params["tags"] = ",".join(_tags(self.tag_edit.text()))
        if self.text_edit.text().strip():
            params["q"] = self.text_edit.text().strip()
        return params

    def search(self) -> None:
        """A new search from the first page."""
        self.offset = 0
        self.refresh()

    def refresh(self) -> None:
        self._generation += 1
        generation = self._generation
        self.status.setText("Searching...")
        self.bridge.get("/assets", params=self.filters(), owner=self,
                        on_done=lambda answer: self._show(generation, answer), on_error=self._error)

    def _page(self, step: int) -> None:
        offset = self.offset + step * self.page_size
        if offset < 0 or (step > 0 and offset >= self.total):
            return
        self.offset = offset
        self.refresh()

    def _show(self, generation: int, answer: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        selected = set(self.selected_uids())
        self.items = list(answer.get("items") or [])
        self.total = int(answer.get("total") or 0)
        self.loaded_thumbnails = 0
        self.grid.clear()
        placeholder = QPixmap(ICON, ICON)
        placeholder.fill(Qt.GlobalColor.lightGray)
        for asset in self.items:
            name = asset.get("path", asset["uid"]).rsplit("/", 1)[-1]
            item = QListWidgetItem(QIcon(placeholder), name)
            item.setData(UID_ROLE, asset["uid"])
            item.setToolTip(f"{asset.get('path')}\ntype: {asset.get('type')}\ntags: {', '.join(asset.get('tags') or [])}"
                            f"\nlicence: {asset.get('license') or '-'}")
            self.grid.addItem(item)
            if asset["uid"] in selected:
                item.setSelected(True)
            if asset["uid"] in self._pixmaps:  # the uid is the content's hash: its picture never changes
                self._thumbnail(generation, item, self._pixmaps[asset["uid"]])
            elif str(asset.get("type", "")).split(".")[0] in ("image", "background", "character", "cg", "ui"):
                load_thumbnail(self.bridge, self.project, asset["uid"],
                               lambda pixmap, item=item, g=generation: self._thumbnail(g, item, pixmap),
                               lambda error, g=generation: self._thumbnail_failed(g, error), owner=self)
        shown = f"{self.offset + 1}-{self.offset + len(self.items)} of {self.total}" if self.items else "no assets"
        self.page_label.setText(shown)
        self.prev_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(self.offset + len(self.items) < self.total)
        self.status.setText(f"{self._note}{self.total} asset(s) match")
        self._note = ""

    def _thumbnail(self, generation: int, item: QListWidgetItem, pixmap: QPixmap) -> None:
        if generation != self._generation:
            return  # the grid was rebuilt: this item is gone
        if pixmap.width() > ICON or pixmap.height() > ICON:
            pixmap = pixmap.scaled(ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self._pixmaps[item.data(UID_ROLE)] = pixmap
        item.setIcon(QIcon(pixmap))
        self.loaded_thumbnails += 1

    def _thumbnail_failed(self, generation: int, error: BridgeError) -> None:
        if generation == self._generation:
            self.status.setText(f"A thumbnail could not be loaded: {error.message}")

    # -- selection, sidecar, bulk edit ---------------------------------------------------------

    def selected_uids(self) -> list[str]:
        return [item.data(UID_ROLE) for item in self.grid.selectedItems()]

    def _selection_changed(self) -> None:
        uids = self.selected_uids()
        self.selection_label.setText(f"{len(uids)} selected" if uids else "nothing selected")
        current = self.grid.currentItem()
        if len(uids) == 1 or (current is not None and current.isSelected()):
            uid = uids[0] if len(uids) == 1 else current.data(UID_ROLE)
            self.bridge.call("GET", f"/assets/{uid}/sidecar", params={"project": self.project}, raw=True,
                             on_done=lambda data, uid=uid: self._sidecar(uid, data), on_error=self._error,
                             owner=self)
        elif not uids:
            self.sidecar_view.setPlainText("")

    def _sidecar(self, uid: str, data: bytes) -> None:
        if uid in self.selected_uids():
            self.sidecar_view.setPlainText(data.decode("utf-8", "replace"))

    def apply_bulk(self) -> None:
        uids = self.selected_uids()
        if not uids:
            self.status.setText("Select one or more assets first (Ctrl+A selects the page).")
            return
        body: dict[str, Any] = {"project": self.project, "uids": uids, "add_tags": _tags(self.add_tags.text()),
                                "remove_tags": _tags(self.remove_tags.text())}
        if self.license_edit.text().strip():
            body["license"] = self.license_edit.text().strip()
        if len(body) == 4 and not body["add_tags"] and not body["remove_tags"]:
            self.status.setText("Nothing to change: give tags to add or remove, or a licence.")
            return
        self.status.setText(f"Updating {len(uids)} asset(s)...")
        self.bridge.post("/assets/bulk", body, on_done=self._bulk_done, on_error=self._error, owner=self)

    def _bulk_done(self, answer: dict[str, Any]) -> None:
        self.add_tags.clear()
        self.remove_tags.clear()
        self.license_edit.clear()
        self._note = f"Updated {len(answer.get('items') or [])} asset(s). "
        self.refresh()

    def _error(self, error: BridgeError) -> None:
        self.status.setText(f"Error: {error.message}")

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name in ("on_asset_registered", "on_asset_removed", "on_asset_meta_updated") \
                and payload.get("project", self.project) == self.project:
            self._reload.start()  # a burst of registrations refreshes once
