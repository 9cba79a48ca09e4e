"""Unsaved work is never lost silently: before a pane switches what it edits, reloads, or the Studio
closes, :class:`UnsavedGuard` asks Save (save, and go on once the server has it), Discard or Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_unsaved(parent: QWidget, what: str) -> str:
    """The question, as a modal box: "save", "discard" or "cancel"."""
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes", f"{what} has unsaved changes.", parent=parent)
    box.setInformativeText("Save them first, or discard them?")
    buttons = QMessageBox.StandardButton
    box.setStandardButtons(buttons.Save | buttons.Discard | buttons.Cancel)
    box.setDefaultButton(buttons.Save)
    chosen = buttons(box.exec())
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(chosen, "cancel")


class UnsavedGuard:
    """``confirm(then)`` is True when nothing unsaved would be lost. With unsaved changes it asks:
    Discard -> ``discard()``, True; Save -> ``save()``, False, and ``then`` runs when the pane calls
    :meth:`saved` (a failed save calls :meth:`failed`, and nothing goes on); Cancel -> False."""

    def __init__(self, parent: QWidget, *, what: Callable[[], str], dirty: Callable[[], bool],
                 save: Callable[[], None], discard: Callable[[], None] = lambda: None) -> None:
        self.dirty, self._save, self._discard = dirty, save, discard
        self.ask: Callable[[], str] = lambda: ask_unsaved(parent, what())  # tests replace it
        self._then: Callable[[], None] | None = None

    def confirm(self, then: Callable[[], None] | None = None) -> bool:
        if not self.dirty():
            return True
        answer = self.ask()
        if answer == "discard":
            self._discard()
            return True
        if answer == "save":
            self._then = then
            self._save()
        return False

    def saved(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            then()

    def failed(self) -> None:
        self._then = None
