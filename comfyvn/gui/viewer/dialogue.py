"""What the viewer lays over the stage: the dialogue box (speaker name and line) and the choice
buttons; beside it, the backlog of every line seen so far."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class DialogueBox(QFrame):
    """The speaker's name over the line; narration has no name, directions are in italics."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dialogue")
        self.setStyleSheet("#dialogue { background: rgba(12, 14, 24, 215); border: 1px solid #5d6d7e;"
                           " border-radius: 8px; }")
        column = QVBoxLayout(self)
        column.setContentsMargins(16, 8, 16, 10)
        self.speaker_label = QLabel("")
        self.speaker_label.setStyleSheet("color: #f7c873; font-weight: bold; font-size: 15px;")
        self.text_label = QLabel("")
        self.text_label.setWordWrap(True)
        self.text_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text_label.setStyleSheet("color: white; font-size: 15px;")
        column.addWidget(self.speaker_label)
        column.addWidget(self.text_label, 1)

    def show_line(self, speaker: str, text: str, *, kind: str = "say") -> None:
        self.speaker_label.setText(speaker)
        self.speaker_label.setVisible(bool(speaker))
        style = "color: white; font-size: 15px;" + (" font-style: italic; color: #d5d8dc;" if kind == "direction" else "")
        self.text_label.setStyleSheet(style)
        self.text_label.setText(text)

    def place(self, frame: QRectF) -> None:
        height = max(90, int(frame.height() * 0.26))
        margin = int(frame.width() * 0.03)
        self.setGeometry(int(frame.left()) + margin, int(frame.bottom()) - height - margin // 2,
                         int(frame.width()) - 2 * margin, height)


class ChoiceMenu(QWidget):
    """The offered choices as numbered buttons (keys 1-9 pick them too)."""

    def __init__(self, pick: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pick = pick
        self.buttons: list[QPushButton] = []
        self.choices: list[dict[str, Any]] = []
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(8)
        self.hide()

    def set_choices(self, choices: list[dict[str, Any]]) -> None:
        for button in self.buttons:
            button.deleteLater()
        self.buttons, self.choices = [], list(choices)
        for n, choice in enumerate(self.choices, 1):
            label = choice.get("label") or choice.get("id")
            button = QPushButton(f"{n}. {label}" if n <= 9 else str(label))
            button.setObjectName(f"choice_{choice['id']}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the viewer's shortcuts
            button.setMinimumHeight(36)
            button.setStyleSheet("QPushButton { background: rgba(30, 40, 70, 225); color: white; font-size: 15px;"
                                 " border: 1px solid #aab7b8; border-radius: 6px; padding: 6px 18px; }"
                                 "QPushButton:hover { background: rgba(70, 90, 140, 235); }")
            button.clicked.connect(lambda _=False, cid=choice["id"]: self._pick(cid))
            self._column.addWidget(button)
            self.buttons.append(button)
        self.setVisible(bool(self.choices))
        self.adjustSize()

    def place(self, frame: QRectF) -> None:
        width = int(frame.width() * 0.5)
        height = self.sizeHint().height()
        self.setGeometry(int(frame.center().x() - width / 2), int(frame.top() + frame.height() * 0.36 - height / 2),
                         width, height)


class Backlog(QListWidget):
    """Every line shown so far, newest at the bottom; going back removes the lines undone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumWidth(160)

    def add(self, key: tuple[int, int], speaker: str, text: str) -> None:
        """Add a line seen at ``key`` (run step, line); a key seen already is not added twice."""
        self.prune(key, keep_equal=False)
        item = QListWidgetItem(f"{speaker}: {text}" if speaker else text)
        item.setData(Qt.ItemDataRole.UserRole, key)
        self.addItem(item)
        self.scrollToBottom()

    def prune(self, key: tuple[int, int], *, keep_equal: bool = True) -> None:
        """Drop the lines after ``key`` (they were undone by going back)."""
        while self.count():
            last = tuple(self.item(self.count() - 1).data(Qt.ItemDataRole.UserRole))
            if last < key or (keep_equal and last == key):
                break
            self.takeItem(self.count() - 1)

    def lines(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
