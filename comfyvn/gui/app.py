"""``python run_comfyvn.py`` opens this: the Studio, connected to the server at ``base_url``
(the launcher starts a local one, or finds a running one, first; see comfyvn/launcher.py).

    python -m comfyvn.gui.app --server-url http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication, QLabel

from comfyvn.gui.bridge import ServerBridge
from comfyvn.gui.main_window import MainWindow, Panel


def panels() -> list[Panel]:
    """The dockable panels of the Studio, in menu order."""
    return []


def build_window(bridge: ServerBridge) -> MainWindow:
    """The main window with every panel and centre pane (the VN Viewer is the default pane)."""
    window = MainWindow(bridge, panels())
    window.add_pane("welcome", lambda: QLabel("ComfyVN Studio"), title="Welcome", default=True)
    window.router.show_pane()
    window.restore_layout()
    return window


def main(base_url: str | None = None, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The ComfyVN Studio.")
    parser.add_argument("--server-url", default=base_url, help="the ComfyVN server (default: the configured one)")
    args, qt_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
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
    try:
        return app.exec()
    finally:
        bridge.stop()


if __name__ == "__main__":
    raise SystemExit(main())
