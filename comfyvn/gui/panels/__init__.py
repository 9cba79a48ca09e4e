"""The Studio's dockable panels (Task Manager, Asset Gallery, inspectors, ...)."""

from PySide6.QtWidgets import QWidget


def on_screen(widget: QWidget) -> bool:
    """Whether any of ``widget`` can be seen: a panel in a dock tab that is not the current one
    counts as visible for Qt (``isVisible()``) but has nothing on screen, so it should not poll."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()
