"""A one-line label that shows as much of its text as fits (the middle elided with "…") and the
whole text in its tooltip: long scene ids neither widen the window nor run under the next label."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Asks for the width of its whole text up to ``maximum`` pixels, accepts down to ``minimum``,
    and elides the text again whenever it is resized. :meth:`full_text` is the text set."""

    def __init__(self, text: str = "", *, minimum: int = 60, maximum: int = 320,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full, self._mode = "", mode
        self.setMinimumWidth(minimum)
        self.setMaximumWidth(maximum)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = text or ""
        self.setToolTip(self._full)
        self._elide()
        self.updateGeometry()

    def _padding(self) -> int:
        margins = self.contentsMargins()
        return margins.left() + margins.right() + 2 * self.margin()

    def sizeHint(self) -> QSize:
        width = self.fontMetrics().horizontalAdvance(self._full) + self._padding() + 2
        height = max(super().sizeHint().height(), self.fontMetrics().height())
        return QSize(max(self.minimumWidth(), min(width, self.maximumWidth())), height)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), self.sizeHint().height())

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(self.width() - self._padding(), 0)
        shown = self.fontMetrics().elidedText(self._full, self._mode, room)
        if shown != super().text():
            super().setText(shown)
