"""The centre of the Studio window: one pane at a time (the VN Viewer by default, the Character
Designer, the Timeline Workshop, ...), registered by name and made on first use."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget, QWidget


class CenterRouter(QStackedWidget):
    changed = Signal(str)  # the name of the pane now shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._titles: dict[str, str] = {}
        self._made: dict[str, QWidget] = {}
        self.default: str | None = None
        self.current: str | None = None

    def register(self, name: str, factory: Callable[[], QWidget], *, title: str | None = None) -> None:
        """Offer a pane; ``factory`` makes its widget the first time it is shown."""
        self._factories[name] = factory
        self._titles[name] = title or name.replace("_", " ").title()

    def set_default(self, name: str) -> None:
        if name not in self._factories:
            raise KeyError(f"no pane named {name!r}; register it first")
        self.default = name

    def names(self) -> list[str]:
        return list(self._factories)

    def made(self) -> list[QWidget]:
        """The panes made so far (the others have no state to lose)."""
        return list(self._made.values())

    def title(self, name: str) -> str:
        return self._titles[name]

    def pane(self, name: str) -> QWidget:
        """The pane's widget, made now if needed."""
        if name not in self._made:
            if name not in self._factories:
                raise KeyError(f"no pane named {name!r}; known: {', '.join(self._factories)}")
            made = self._factories[name]()
            self._made[name] = made
            self.addWidget(made)
        return self._made[name]

    def show_pane(self, name: str | None = None) -> QWidget:
        """Show ``name`` (default: the default pane)."""
        name = name or self.default
        if name is None:
            raise KeyError("no default pane set")
        shown = self.pane(name)
        self.setCurrentWidget(shown)
        if name != self.current:
            self.current = name
            self.changed.emit(name)
        return shown
