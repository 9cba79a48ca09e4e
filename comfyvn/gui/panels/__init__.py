"""The Studio's dockable panels (Task Manager, Asset Gallery, inspectors, ...)."""

from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


def on_screen(widget: QWidget) -> bool:
    """Whether any of ``widget`` can be seen: a panel in a dock tab that is not the current one
    counts as visible for Qt (``isVisible()``) but has nothing on screen, so it should not poll."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def scrolling(content: QWidget, *, minimum_height: int = 50) -> QScrollArea:
    """``content`` in a frameless scroll area: it fills the area while there is room and scrolls
    when a small window or a crowded dock area squeezes it below its own minimum size."""
    area = QScrollArea()
    area.setWidget(content)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setMinimumHeight(minimum_height)
    return area
