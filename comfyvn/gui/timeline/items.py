"""The graph items of the Timeline Workshop: a node box (id, type, first line, validation errors,
breakpoint, current-node highlight, a port to drag links from) and an edge (``next`` or a
labelled choice). Painting is cheap on purpose: a 1,000-node graph must pan smoothly."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem

from comfyvn.gui.timeline.graph import first_line, node_type

WIDTH, HEIGHT = 200.0, 72.0
HEADER = 22.0
PORT = 7.0  # radius of the link port on the right edge
FILL = {"dialogue": "#2f3b4c", "choice": "#3d3459", "random": "#4a3b22", "end": "#23452f"}
DETAIL_LOD = 0.4  # below this zoom only boxes are drawn
OVERVIEW_LOD = 0.12  # below this: no antialiasing, edges as straight lines

_FONTS: dict[str, QFont] = {}


def font(name: str) -> QFont:
    """``plain``, ``bold`` or ``small``: made on first use (never at import: Qt may not run yet)."""
    if not _FONTS:
        plain = QFont()
        bold = QFont(plain)
        bold.setBold(True)
        small = QFont(plain)
        small.setPointSizeF(max(6.0, plain.pointSizeF() - 1.5))
        _FONTS.update(plain=plain, bold=bold, small=small)
    return _FONTS[name]


class NodeItem(QGraphicsItem):
    """One scene node. ``node`` is the node's dict inside the scene document (edited in place)."""

    def __init__(self, node: dict[str, Any]) -> None:
        super().__init__()
        self.node = node
        self.node_id = str(node.get("id"))
        self.errors: list[str] = []
        self.breakpoint = False
        self.current = False
        self.edges: list[EdgeItem] = []
        self._kind = ""
        self._line = ""
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setZValue(1)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the node dict (after an edit)."""
        self.node_id = str(self.node.get("id"))
        self._kind = node_type(self.node)
        line = first_line(self.node) or "(no line)"
        self._line = QFontMetricsF(font("plain")).elidedText(line, Qt.TextElideMode.ElideRight, WIDTH - 16)
        self._update_tooltip()
        self.update()

    def set_errors(self, errors: list[str]) -> None:
        if errors != self.errors:
            self.errors = errors
            self._update_tooltip()
            self.update()

    def set_breakpoint(self, on: bool) -> None:
        self.breakpoint = on
        self.update()

    def set_current(self, on: bool) -> None:
        self.current = on
        self.setZValue(2 if on else 1)
        self.update()

    def _update_tooltip(self) -> None:
        text = f"{self.node_id} ({self._kind})\n{first_line(self.node)}"
        if self.errors:
            text += "\n\nErrors:\n" + "\n".join(f"- {e}" for e in self.errors)
        self.setToolTip(text)

    # -- geometry ------------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, WIDTH + PORT + 8, HEIGHT + 8)

    def header_rect(self) -> QRectF:
        return QRectF(0, 0, WIDTH, HEADER)

    def port_center(self) -> QPointF:
        return QPointF(WIDTH, HEIGHT / 2)

    def in_port(self, local: QPointF) -> bool:
        delta = local - self.port_center()
        return delta.x() ** 2 + delta.y() ** 2 <= (PORT + 3) ** 2

    def out_point(self) -> QPointF:
        return self.pos() + self.port_center()

    def in_point(self) -> QPointF:
        return self.pos() + QPointF(0, HEIGHT / 2)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.adjust()
        return super().itemChange(change, value)

    # -- painting ------------------------------------------------------------------------------

    def paint(self, painter: Any, option: QStyleOptionGraphicsItem, widget: Any = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if self.current:
            pen = QPen(QColor("#f5c542"), 4)
        elif self.errors:
            pen = QPen(QColor("#e74c3c"), 3)
        elif selected:
            pen = QPen(QColor("#5dade2"), 3)
        else:
            pen = QPen(QColor("#8795a8"), 1)
        painter.setPen(pen)
        painter.setBrush(QBrush(QColor(FILL.get(self._kind, FILL["dialogue"]))))
        box = QRectF(0, 0, WIDTH, HEIGHT)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= OVERVIEW_LOD)
        if lod < DETAIL_LOD:
            if lod < OVERVIEW_LOD and not (self.current or self.errors or selected):
                pen = Qt.PenStyle.NoPen
            painter.setPen(pen)
            painter.drawRect(box)
            return
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QPen(QColor("#8795a8"), 1))
        painter.setBrush(QBrush(QColor("#e8eef5")))
        painter.drawEllipse(self.port_center(), PORT, PORT)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(font("bold"))
        left = 22.0 if self.breakpoint else 8.0
        painter.drawText(QRectF(left, 2, WIDTH - left - 70, HEADER), Qt.AlignmentFlag.AlignVCenter, self.node_id)
        painter.setFont(font("small"))
        painter.setPen(QColor("#b8c4d4"))
        painter.drawText(QRectF(WIDTH - 72, 2, 64, HEADER), Qt.AlignmentFlag.AlignVCenter
                         | Qt.AlignmentFlag.AlignRight, self._kind)
        painter.setFont(font("plain"))
        painter.setPen(QColor("#f0f0f0"))
        painter.drawText(QRectF(8, HEADER + 2, WIDTH - 16, 22), Qt.AlignmentFlag.AlignVCenter, self._line)
        if self.errors:
            painter.setPen(QColor("#ff8a80"))
            painter.setFont(font("small"))
            note = f"\u26a0 {self.errors[0]}" + (f" (+{len(self.errors) - 1})" if len(self.errors) > 1 else "")
            note = QFontMetricsF(font("small")).elidedText(note, Qt.TextElideMode.ElideRight, WIDTH - 16)
            painter.drawText(QRectF(8, HEADER + 24, WIDTH - 16, 22), Qt.AlignmentFlag.AlignVCenter, note)
        if self.breakpoint:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor("#e74c3c")))
            painter.drawEllipse(QPointF(11, HEADER / 2 + 1), 6, 6)


class EdgeItem(QGraphicsItem):
    """An arrow from ``source`` to ``target``: ``choice`` is the choice id (None for ``next``)."""

    def __init__(self, source: NodeItem, target: NodeItem, choice: str | None, label: str) -> None:
        super().__init__()
        self.source, self.target, self.choice, self.label = source, target, choice, label
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self._path = QPainterPath()
        self._arrow = QPolygonF()
        self._label_at = QPointF()
        self._bounds = QRectF()
        self._label = QFontMetricsF(font("small")).elidedText(label, Qt.TextElideMode.ElideRight, 140)
        source.edges.append(self)
        target.edges.append(self)
        self.setToolTip(f"{source.node_id} \u2192 {target.node_id}" + (f": {label}" if choice else " (next)"))
        self.adjust()

    def detach(self) -> None:
        for node in (self.source, self.target):
            if self in node.edges:
                node.edges.remove(self)

    def adjust(self) -> None:
        self.prepareGeometryChange()
        start, end = self.source.out_point(), self.target.in_point()
        path = QPainterPath(start)
        if end.x() >= start.x() + 40:  # forwards: an S curve
            bend = max(60.0, (end.x() - start.x()) / 2)
            path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
        else:  # backwards or within a layer: a loop under both nodes, clear of the boxes
            below = max(start.y(), end.y()) + HEIGHT / 2 + 28
            path.cubicTo(QPointF(start.x() + 90, start.y()), QPointF(start.x() + 90, below),
                         QPointF(start.x() + 20, below))
            path.lineTo(QPointF(end.x() - 20, below))
            path.cubicTo(QPointF(end.x() - 90, below), QPointF(end.x() - 90, end.y()), end)
        self._path = path
        self._arrow = QPolygonF([end, end + QPointF(-10, -5), end + QPointF(-10, 5)])
        self._label_at = path.pointAtPercent(0.5)
        bounds = path.boundingRect().adjusted(-12, -12, 12, 12)
        if self.choice:
            bounds = bounds.united(QRectF(self._label_at.x() - 80, self._label_at.y() - 16, 160, 20))
        self._bounds = bounds
        overview = getattr(self.scene(), "overview", None)
        if overview is not None:
            overview.invalidate()

    def label_rect(self) -> QRectF:
        return QRectF(self._label_at.x() - 78, self._label_at.y() - 15, 156, 16)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(8)
        shape = stroker.createStroke(self._path)
        if self.choice:
            box = QPainterPath()
            box.addRect(self.label_rect())
            shape = shape.united(box)
        return shape

    def paint(self, painter: Any, option: QStyleOptionGraphicsItem, widget: Any = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        color = QColor("#5dade2") if selected else QColor("#c39bd3") if self.choice else QColor("#95a5a6")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= OVERVIEW_LOD)
        painter.setPen(QPen(color, 0 if lod < OVERVIEW_LOD else 2.5 if selected else 1.5))
        if lod < OVERVIEW_LOD:  # the overview: a straight cosmetic line is all one can see
            painter.drawLine(self.source.out_point(), self.target.in_point())
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        painter.setBrush(QBrush(color))
        painter.drawPolygon(self._arrow)
        if self.choice and option.levelOfDetailFromTransform(painter.worldTransform()) >= DETAIL_LOD:
            painter.setFont(font("small"))
            box = self.label_rect()
            width = QFontMetricsF(font("small")).horizontalAdvance(self._label) + 8
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(27, 32, 40, 210)))
            painter.drawRoundedRect(QRectF(box.center().x() - width / 2, box.y(), width, box.height()), 3, 3)
            painter.setPen(QColor("#e8daef"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._label)


class OverviewEdges(QGraphicsItem):
    """Every edge as one straight line, drawn in one call: shown instead of the edge items when
    the graph is zoomed out so far that curves and labels cannot be seen (a 1,000-node graph
    fitted in the window), where painting 2,000+ items one by one would be too slow."""

    def __init__(self, edges: list[EdgeItem]) -> None:
        super().__init__()
        self.edges = edges
        self._lines: list[QLineF] | None = None
        self._bounds = QRectF()
        self.setZValue(0)

    def invalidate(self) -> None:
        if self._lines is not None:
            self.prepareGeometryChange()
            self._lines = None

    def _build(self) -> list[QLineF]:
        if self._lines is None:
            self._lines = [QLineF(e.source.out_point(), e.target.in_point()) for e in self.edges]
            bounds = QRectF()
            for edge in self.edges:
                bounds = bounds.united(edge.boundingRect())
            self._bounds = bounds
        return self._lines

    def boundingRect(self) -> QRectF:
        self._build()
        return self._bounds

    def paint(self, painter: Any, option: QStyleOptionGraphicsItem, widget: Any = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(QPen(QColor("#95a5a6"), 0))
        painter.drawLines(self._build())
