"""Small widgets every panel uses: the status line (news, or errors in red) and keyboard actions."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QWidget

ERROR_COLOUR = "#c0392b"


class StatusLine(QLabel):
    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setWordWrap(True)

    def say(self, text: str, *, error: bool = False) -> None:
        self.setText(text)
        self.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")


def shortcut_action(widget: QWidget, text: str, keys: str, slot: Callable[[], object], *,
                    context: Qt.ShortcutContext = Qt.ShortcutContext.WidgetWithChildrenShortcut) -> QAction:
    """An action on ``widget`` run by ``keys`` (while the focus is inside it, by default), its
    shortcut shown in the tooltip."""
    action = QAction(text, widget)
    action.setShortcut(QKeySequence(keys))
    action.setShortcutContext(context)
    action.setToolTip(f"{text} ({keys})")
    action.triggered.connect(slot)
    widget.addAction(action)
    return action
