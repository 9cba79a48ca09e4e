"""``python run_comfyvn.py`` opens this: the Studio, connected to the server at ``base_url``
(the launcher starts a local one, or finds a running one, first; see comfyvn/launcher.py).

    python -m comfyvn.gui.app --server-url http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import itertools
import sys

from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu

from comfyvn.gui.bridge import ServerBridge
from comfyvn.gui.main_window import MainWindow, Panel


def panels() -> list[Panel]:
    """The dockable panels of the Studio, in menu order."""
    from comfyvn.gui.panels.assets import AssetGallery
    from comfyvn.gui.panels.flags import FlagsPanel
    from comfyvn.gui.panels.inspectors import (
        CharactersInspector,
        ScenesInspector,
        TimelineInspector,
    )
    from comfyvn.gui.panels.logs import LogsPanel
    from comfyvn.gui.panels.scheduler import SchedulerPanel
    from comfyvn.gui.panels.settings import SettingsPanel
    from comfyvn.gui.panels.tasks import TasksPanel

    left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                           Qt.DockWidgetArea.BottomDockWidgetArea)
    return [
        Panel("scenes", "Scenes", ScenesInspector, left, "Ctrl+Shift+S"),
        Panel("characters", "Characters", CharactersInspector, left, "Ctrl+Shift+C"),
        Panel("timelines", "Timelines", TimelineInspector, left, "Ctrl+Shift+T"),
        Panel("tasks", "Task Manager", TasksPanel, right, "Ctrl+Shift+J"),
        Panel("scheduler", "Scheduler Board", SchedulerPanel, right, "Ctrl+Shift+B"),
        Panel("assets", "Asset Gallery", AssetGallery, bottom, "Ctrl+Shift+A"),
        Panel("logs", "Log Hub", LogsPanel, bottom, "Ctrl+Shift+L"),
        Panel("flags", "Feature Flags", FlagsPanel, right, "Ctrl+Shift+G"),
        Panel("settings", "Settings", SettingsPanel, right, "Ctrl+,"),
    ]


def build_window(bridge: ServerBridge) -> MainWindow:
    """The main window with every panel and centre pane; the VN Viewer is the default pane, the
    Character Designer one click (Ctrl+2) away."""
    from comfyvn.gui import timeline
    from comfyvn.gui.designer import DesignerPane
    from comfyvn.gui.dialogs.import_roleplay import ImportRoleplayDialog
    from comfyvn.gui.viewer import ViewerPane

    window = MainWindow(bridge, panels())
    window.add_pane("viewer", lambda: ViewerPane(bridge), title="VN Viewer", shortcut="Ctrl+1", default=True)
    window.add_pane("designer", lambda: DesignerPane(bridge), title="Character Designer", shortcut="Ctrl+2")
    timeline.install(window)
    for dock in ("right", "bottom"):  # tabbed, not stacked, so each panel keeps a usable size at 1280x720
        names = [p.name for p in panels() if p.area == getattr(Qt.DockWidgetArea, f"{dock.title()}DockWidgetArea")]
        for first, other in itertools.pairwise(names):
            window.tabifyDockWidget(window.docks[first], window.docks[other])
    window.tabifyDockWidget(window.docks["tasks"], window.docks["runner"])
    # the bottom docks sit under the centre only, so the side docks' heights and theirs do not add up
    window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(window.docks["scenes"], window.docks["characters"])
    window.tabifyDockWidget(window.docks["characters"], window.docks["timelines"])
    for name in ("tasks", "scenes"):
        window.docks[name].raise_()
    for name in ("assets", "logs", "flags", "settings"):  # opened from the Panels menu (their shortcuts)
        window.docks[name].hide()
    window.resizeDocks([window.docks["scenes"], window.docks["tasks"]], [230, 330], Qt.Orientation.Horizontal)

    def open_record(kind: str, record_id: str) -> None:
        if kind == "character":
            window.router.show_pane("designer").open_character(record_id)
        elif kind == "scene":
            window.router.show_pane("viewer").open_scene(record_id)
        elif kind == "timeline":
            window.router.show_pane("timeline")

    for name in ("scenes", "characters", "timelines"):
        window.docks[name].widget().open_requested.connect(open_record)

    def import_roleplay() -> None:
        dialog = ImportRoleplayDialog(bridge, parent=window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per Ctrl+I, gone when closed

        def open_imported(scene_id: str) -> None:  # in the viewer, switched to the project imported into
            viewer = window.router.show_pane("viewer")
            if viewer.project != dialog.project():
                viewer.set_project(dialog.project())
            viewer.open_scene(scene_id)

        dialog.opened.connect(open_imported)
        dialog.show()

    action = QAction("Import Roleplay...", window)
    action.setShortcut(QKeySequence("Ctrl+I"))
    action.triggered.connect(import_roleplay)
    window.menuBar().insertMenu(window.menuBar().actions()[0], file_menu := QMenu("&File", window))
    file_menu.addAction(action)
    quit_action = QAction("Quit", window)
    quit_action.setShortcut(QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(window.close)
    file_menu.addAction(quit_action)
    window.router.show_pane()
    return window


def main(base_url: str | None = None, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The ComfyVN Studio.")
    parser.add_argument("--server-url", default=base_url, help="the ComfyVN server (default: the configured one)")
    args, qt_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    from comfyvn.core.logs import add_log_file

    try:
        add_log_file("gui.log", console=True)  # <logs>/gui.log, which the Log Hub shows; warnings on stderr too
    except OSError as exc:
        print(f"warning: cannot write gui.log ({exc}); the Studio runs without it", file=sys.stderr)
    url = args.server_url
    if url is None:
        from comfyvn.config.baseurl_authority import default_base_url

        url = default_base_url()
    from comfyvn.server.auth import read_token

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("ComfyVN Studio")
    bridge = ServerBridge(url, token=read_token())
    bridge.start()
    window = build_window(bridge)
    window.show()
    if not window.restore_layout():  # first run: a size that fits a 1280x720 screen
        window.resize(1280, 720)
    try:
        return app.exec()
    finally:
        bridge.stop()
        pool = QThreadPool.globalInstance()  # image decodes still running must end before Python does
        pool.clear()
        pool.waitForDone()


if __name__ == "__main__":
    raise SystemExit(main())
