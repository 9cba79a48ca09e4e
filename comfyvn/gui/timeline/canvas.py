"""The node editor canvas: ``GraphScene`` holds the node and edge items of one scene document
(and the drag-a-link gesture from a node's port); ``GraphView`` pans (middle button, or Space +
drag), zooms (wheel, Ctrl+=/Ctrl+-, Ctrl+0 fits) and hosts the inline text editor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsLineItem,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
    QWidget,
)

from comfyvn.gui.timeline import graph
from comfyvn.gui.timeline.items import OVERVIEW_LOD, EdgeItem, NodeItem, OverviewEdges

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0


class GraphScene(QGraphicsScene):
    link_requested = Signal(str, str)  # source id, target id (dragged from source's port)
    node_activated = Signal(str, str)  # node id, "id" or "text" (double-click on the header or body)
    edge_activated = Signal(str, str)  # source id, choice id (double-click on a choice label)
    node_moved = Signal(str, float, float)  # node id, x, y (the user dragged it)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setBackgroundBrush(QColor("#1b2028"))
        self.document: dict[str, Any] = {}
        self.nodes: dict[str, NodeItem] = {}
        self.edge_items: list[EdgeItem] = []
        self._drag_from: NodeItem | None = None
        self._drag_line: QGraphicsLineItem | None = None
        self._press_pos: dict[NodeItem, QPointF] = {}
        self.overview: OverviewEdges | None = None
        self.overview_mode = False

    # -- building ------------------------------------------------------------------------------

    def load(self, document: dict[str, Any]) -> None:
        """Show ``document`` (a scene dict, edited in place by the workshop), laid out by BFS layers."""
        self.clear()
        self.overview = None
        self.document = document
        self.nodes = {}
        self.edge_items = []
        positions = graph.layout(document)
        for node in document.get("nodes") or []:
            item = NodeItem(node)
            item.setPos(*positions.get(item.node_id, (0.0, 0.0)))
            self.addItem(item)
            self.nodes.setdefault(item.node_id, item)
        self.rebuild_edges()
        self.setSceneRect(self.itemsBoundingRect().adjusted(-400, -300, 400, 300))

    def rebuild_edges(self) -> None:
        for edge in self.edge_items:
            edge.detach()
            self.removeItem(edge)
        self.edge_items = []
        for edge in graph.edges(self.document):
            source, target = self.nodes.get(edge.source), self.nodes.get(edge.target)
            if source is not None and target is not None:
                item = EdgeItem(source, target, edge.choice, edge.label)
                item.setVisible(not self.overview_mode)
                self.addItem(item)
                self.edge_items.append(item)
        if self.overview is None:
            self.overview = OverviewEdges(self.edge_items)
            self.addItem(self.overview)
        self.overview.edges = self.edge_items
        self.overview.invalidate()
        self.overview.setVisible(self.overview_mode)

    def set_overview(self, on: bool) -> None:
        """Draw the edges as one item of straight lines (far zoomed out) or as edge items."""
        if on == self.overview_mode:
            return
        self.overview_mode = on
        for edge in self.edge_items:
            edge.setVisible(not on)
        if self.overview is not None:
            self.overview.setVisible(on)

    def sync(self) -> None:
        """Bring the items in line with the document after an edit (new, renamed or deleted
        nodes keep the positions of the ones still there)."""
        old = list(self.nodes.values())
        positions = {id(item.node): item.pos() for item in old}
        flags = {id(item.node): (item.breakpoint, item.errors) for item in old}
        for edge in self.edge_items:
            edge.detach()
            self.removeItem(edge)
        self.edge_items = []
        for item in old:
            self.removeItem(item)
        self.nodes = {}
        fresh = graph.layout(self.document)
        for node in self.document.get("nodes") or []:
            item = NodeItem(node)
            pos = positions.get(id(node))
            item.setPos(pos if pos is not None else QPointF(*fresh.get(item.node_id, (0.0, 0.0))))
            breakpoint, errors = flags.get(id(node), (False, []))
            item.breakpoint, item.errors = breakpoint, errors
            self.addItem(item)
            self.nodes.setdefault(item.node_id, item)
        self.rebuild_edges()
        self.setSceneRect(self.itemsBoundingRect().adjusted(-400, -300, 400, 300))

    def relayout(self) -> None:
        positions = graph.layout({**self.document, "nodes": [
            {k: v for k, v in n.items() if k != "metadata"} for n in self.document.get("nodes") or []]})
        for node_id, item in self.nodes.items():
            item.setPos(*positions.get(node_id, (0.0, 0.0)))
            (item.node.get("metadata") or {}).pop(graph.POS_KEY, None)
            if item.node.get("metadata") == {}:
                item.node.pop("metadata")
        self.setSceneRect(self.itemsBoundingRect().adjusted(-400, -300, 400, 300))

    def selected_nodes(self) -> list[NodeItem]:
        return [i for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[EdgeItem]:
        return [i for i in self.selectedItems() if isinstance(i, EdgeItem)]

    # -- gestures ------------------------------------------------------------------------------

    def _node_at(self, pos: QPointF) -> NodeItem | None:
        view = self.views()[0] if self.views() else None
        for item in self.items(pos) if view is None else [self.itemAt(pos, view.transform())]:
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event: Any) -> None:
        node = self._node_at(event.scenePos())
        if event.button() == Qt.MouseButton.LeftButton and node is not None \
                and node.in_port(node.mapFromScene(event.scenePos())):
            self._drag_from = node
            self._drag_line = self.addLine(node.out_point().x(), node.out_point().y(), event.scenePos().x(),
                                           event.scenePos().y(), QPen(QColor("#f5c542"), 2, Qt.PenStyle.DashLine))
            self._drag_line.setZValue(5)
            event.accept()
            return
        super().mousePressEvent(event)
        self._press_pos = {item: item.pos() for item in self.selected_nodes()}

    def mouseMoveEvent(self, event: Any) -> None:
        if self._drag_line is not None and self._drag_from is not None:
            start = self._drag_from.out_point()
            self._drag_line.setLine(start.x(), start.y(), event.scenePos().x(), event.scenePos().y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:
        if self._drag_line is not None and self._drag_from is not None:
            self.removeItem(self._drag_line)
            source, self._drag_line, self._drag_from = self._drag_from, None, None
            target = self._node_at(event.scenePos())
            if target is not None:
                self.link_requested.emit(source.node_id, target.node_id)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        for item, before in self._press_pos.items():
            if item.scene() is self and item.pos() != before:
                self.node_moved.emit(item.node_id, item.pos().x(), item.pos().y())
        self._press_pos = {}

    def mouseDoubleClickEvent(self, event: Any) -> None:
        view = self.views()[0] if self.views() else None
        item = self.itemAt(event.scenePos(), view.transform()) if view is not None else None
        if isinstance(item, NodeItem):
            local = item.mapFromScene(event.scenePos())
            self.node_activated.emit(item.node_id, "id" if item.header_rect().contains(local) else "text")
        elif isinstance(item, EdgeItem) and item.choice:
            self.edge_activated.emit(item.source.node_id, item.choice)
        else:
            super().mouseDoubleClickEvent(event)


class InlineEditor(QLineEdit):
    """A one-line editor over the canvas: Enter (or leaving it) commits, Escape cancels."""

    def __init__(self, parent: QWidget, text: str, commit: Callable[[str], None]) -> None:
        super().__init__(text, parent)
        self._commit: Callable[[str], None] | None = commit
        self.setStyleSheet("QLineEdit { background: #fdfefe; color: #111; border: 2px solid #f5c542; }")
        self.returnPressed.connect(self.finish)

    def finish(self) -> None:
        commit, self._commit = self._commit, None
        self.hide()
        self.deleteLater()
        if commit is not None:
            commit(self.text())

    def cancel(self) -> None:
        self._commit = None
        self.hide()
        self.deleteLater()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        if self._commit is not None and self.isVisible():
            self.finish()


class GraphView(QGraphicsView):
    zoom_changed = Signal(float)

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.editor: InlineEditor | None = None
        self._pan_from: QPointF | None = None
        self._space = False

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, value: float) -> None:
        value = max(MIN_ZOOM, min(MAX_ZOOM, value))
        self.scale(value / self.zoom, value / self.zoom)
        self._zoomed()

    def _zoomed(self) -> None:
        scene = self.scene()
        if isinstance(scene, GraphScene):
            scene.set_overview(self.zoom < OVERVIEW_LOD)
        self.zoom_changed.emit(self.zoom)

    def fit(self) -> None:
        """Show the whole graph (Ctrl+0), never zooming in past 100%."""
        scene = self.scene()
        box = scene.itemsBoundingRect().adjusted(-40, -40, 40, 40)
        if box.isEmpty():
            return
        self.fitInView(box, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.set_zoom(1.0)
        self.centerOn(box.center())
        self._zoomed()

    def wheelEvent(self, event: Any) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_zoom(self.zoom * (1.15 ** steps))
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: Any) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.pan(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def pan(self, dx: float, dy: float) -> None:
        """Scroll the view by (dx, dy) viewport pixels."""
        self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() + dx))
        self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() + dy))

    def edit_inline(self, rect: QRectF, text: str, commit: Callable[[str], None]) -> InlineEditor:
        """Open a line editor over ``rect`` (scene coordinates) holding ``text``."""
        if self.editor is not None and self.editor._commit is not None:
            self.editor.cancel()
        box = self.mapFromScene(rect).boundingRect()
        editor = InlineEditor(self.viewport(), text, commit)
        editor.setGeometry(box.x(), box.y(), max(180, box.width()), max(26, box.height()))
        editor.show()
        editor.setFocus()
        editor.selectAll()
        self.editor = editor
        return editor
