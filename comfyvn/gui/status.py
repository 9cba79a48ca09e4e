"""The status line at the bottom of a panel or pane: news in the normal colour, errors in red."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

ERROR_COLOUR = "#c0392b"


class StatusLine(QLabel):
    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setWordWrap(True)

    def say(self, text: str, *, error: bool = False) -> None:
        self.setText(text)
        self.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")
