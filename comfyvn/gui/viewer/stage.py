"""The viewer's stage: the background and the sprites of one presentation-plan stage, drawn with
the project's art when the asset registry has it (the built-in renderer's or ComfyUI's), and a
coloured placeholder otherwise. Art is looked up and downloaded through the bridge, and decoded on a
worker thread of Qt's global thread pool: nothing here touches the network or the disk, or decodes
a full-size image, on the UI thread (only the cheap QImage -> QPixmap conversion happens there)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from PySide6.QtCore import (
    QObject,
    QRectF,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from comfyvn.gui.bridge import BridgeError, ServerBridge
from comfyvn.gui.images import decode_later

SPRITE_HEIGHT = 0.86  # of the stage's height; sprites stand on the bottom edge
ASPECT = 16 / 9
PENDING = object()


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", (text or "").lower()) if w]


def colour_of(name: str, *, light: int = 150) -> QColor:
    """A stable colour for a name (placeholders keep their look between runs)."""
    digest = hashlib.sha256((name or "?").encode("utf-8")).digest()
    return QColor.fromHsl(digest[0] * 360 // 256, 110 + digest[1] % 80, light)


class ArtCache(QObject):
    """Pixmaps of backgrounds and sprites, keyed by what the plan names; ``changed`` is called
    whenever a lookup finishes (found or not). A failed lookup is remembered as ``None`` (the
    placeholder stays) and its message kept in ``errors``. Answers and decoded images arriving
    after the cache (a child of the pane that owns it) was deleted are dropped."""

    def __init__(self, bridge: ServerBridge, project: str, changed: Any, report: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project, self._changed, self._report = bridge, project, changed, report
        self._art: dict[tuple[str, ...], Any] = {}
        self.errors: list[str] = []
        self._generation = 0  # bumped by clear(): answers asked for before it are dropped

    def _fresh(self, callback: Any) -> Any:
        """``callback`` that does nothing once the cache was cleared (another project) after the ask."""
        generation = self._generation
        return lambda value: callback(value) if generation == self._generation else None

    def forget_missing(self) -> None:
        """Look again for the art not found so far (new assets were registered)."""
        self._art = {key: art for key, art in self._art.items() if art is not None}

    def clear(self, project: str | None = None) -> None:
        self._art.clear()
        self._generation += 1
        if project is not None:
            self.project = project

    def background(self, background: dict[str, Any] | None) -> QPixmap | None:
        ref = (background or {}).get("image") or (background or {}).get("location") or ""
        if not ref:
            return None
        key = ("background", ref)
        if key not in self._art:
            self._art[key] = PENDING
            words = _words(ref)
            self.bridge.get("/assets", params={"project": self.project, "type": "background",
                                               "q": words[0] if words else ref, "limit": 50},
                            on_done=self._fresh(lambda answer: self._pick_background(key, words, answer)),
                            on_error=self._fresh(lambda error: self._missing(key, error)), owner=self)
        return self._ready(key)

    def sprite(self, character: dict[str, Any]) -> QPixmap | None:
        cid, name = str(character.get("id") or ""), str(character.get("name") or "")
        expression = str(character.get("expression") or "neutral")
        key = ("sprite", cid, expression)
        if key not in self._art:
            self._art[key] = PENDING
            self.bridge.get("/assets", params={"project": self.project, "type": "character.sprite",
                                               "q": cid or name, "limit": 500},
                            on_done=self._fresh(lambda answer: self._pick_sprite(
                                key, {cid.lower(), name.lower()} - {""}, expression, answer)),
                            on_error=self._fresh(lambda error: self._missing(key, error)), owner=self)
        return self._ready(key)

    # -- lookups -------------------------------------------------------------------------------

    def _ready(self, key: tuple[str, ...]) -> QPixmap | None:
        art = self._art.get(key)
        return art if isinstance(art, QPixmap) else None

    def _pick_background(self, key: tuple[str, ...], words: list[str], answer: dict[str, Any]) -> None:
        items = answer.get("items") or []
        found = next((s for s in items if all(w in s.get("path", "").lower() for w in words)), None)
        self._download(key, found)

    def _pick_sprite(self, key: tuple[str, ...], names: set[str], expression: str, answer: dict[str, Any]) -> None:
        mine = [s for s in answer.get("items") or []
                if str((s.get("meta") or {}).get("character", "")).lower() in names]
        exact = [s for s in mine if str(s["meta"].get("expression", "")).lower() == expression.lower()]
        neutral = [s for s in mine if str(s["meta"].get("expression", "")).lower() == "neutral"]
        self._download(key, (exact or neutral or mine or [None])[0])

    def _download(self, key: tuple[str, ...], sidecar: dict[str, Any] | None) -> None:
        if sidecar is None:
            self._art[key] = None
            self._changed()
            return
        self.bridge.call("GET", f"/assets/{sidecar['uid']}/download", params={"project": self.project}, raw=True,
                         on_done=self._fresh(lambda data: decode_later(
                             data, self, self._fresh(lambda image: self._decoded(key, image)))),
                         on_error=self._fresh(lambda error: self._missing(key, error)), owner=self)

    def _decoded(self, key: tuple[str, ...], image: QImage) -> None:
        self._art[key] = QPixmap.fromImage(image) if not image.isNull() else None
        self._changed()

    def _missing(self, key: tuple[str, ...], error: BridgeError) -> None:
        self._art[key] = None
        self.errors.append(f"art for {'/'.join(key[1:])}: {error.message}")
        if self._report is not None:
            self._report(f"Loading art failed ({'/'.join(key[1:])}): {error.message}", True)
        self._changed()


class StageWidget(QWidget):
    """Paints one stage (``{background, characters, music}`` from the presentation plan) in a
    16:9 frame; ``resized`` tells the overlays (dialogue box, choices) where the frame now is."""

    resized = Signal(QRectF)

    def __init__(self, art: ArtCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.art = art
        self.stage: dict[str, Any] = {}
        self.setMinimumSize(480, 270)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def show_stage(self, stage: dict[str, Any] | None) -> None:
        self.stage = stage or {}
        self.update()

    def frame_rect(self) -> QRectF:
        w, h = self.width(), self.height()
        if w / max(h, 1) > ASPECT:
            fw, fh = h * ASPECT, float(h)
        else:
            fw, fh = float(w), w / ASPECT
        return QRectF((w - fw) / 2, (h - fh) / 2, fw, fh)

    def sprite_rect(self, character: dict[str, Any], frame: QRectF | None = None) -> QRectF | None:
        """Where a character stands: Ren'Py's ``xalign`` (0 = against the left edge, 1 = the right)."""
        frame = frame or self.frame_rect()
        xalign = character.get("xalign")
        if xalign is None:  # offscreen: on stage but not drawn
            return None
        h = frame.height() * SPRITE_HEIGHT
        w = h / 2
        return QRectF(frame.left() + float(xalign) * (frame.width() - w), frame.bottom() - h, w, h)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.resized.emit(self.frame_rect())

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#111"))
        frame = self.frame_rect()
        painter.setClipRect(frame)
        self._paint_background(painter, frame)
        for character in self.stage.get("characters") or []:
            rect = self.sprite_rect(character, frame)
            if rect is not None:
                self._paint_sprite(painter, rect, character)
        painter.end()

    def _paint_background(self, painter: QPainter, frame: QRectF) -> None:
        background = self.stage.get("background")
        art = self.art.background(background)
        if art is not None:
            scaled = art.scaled(frame.size().toSize(), Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                Qt.TransformationMode.SmoothTransformation)
            painter.drawPixmap(int(frame.left()), int(frame.top()), scaled)
            return
        name = (background or {}).get("image") or (background or {}).get("location") or ""
        gradient = QLinearGradient(frame.topLeft(), frame.bottomLeft())
        top = colour_of(name, light=120) if name else QColor("#2c3e50")
        gradient.setColorAt(0, top)
        gradient.setColorAt(1, top.darker(220))
        painter.fillRect(frame, gradient)
        if name:
            details = [v for v in ((background or {}).get("time_of_day"), (background or {}).get("weather")) if v]
            painter.setPen(QColor(255, 255, 255, 150))
            painter.setFont(QFont(self.font().family(), 11))
            painter.drawText(frame.adjusted(12, 8, -12, -8), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                             f"background: {name}" + (f" ({', '.join(details)})" if details else ""))

    def _paint_sprite(self, painter: QPainter, rect: QRectF, character: dict[str, Any]) -> None:
        art = self.art.sprite(character)
        if art is not None:
            scaled = art.scaled(rect.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio,
                                Qt.TransformationMode.SmoothTransformation)
            painter.drawPixmap(int(rect.center().x() - scaled.width() / 2), int(rect.bottom() - scaled.height()),
                               scaled)
            return
        name = str(character.get("name") or character.get("id") or "?")
        body = colour_of(name)
        path = QPainterPath()  # a simple figure: head and shoulders over a body
        head = rect.width() * 0.42
        path.addEllipse(QRectF(rect.center().x() - head / 2, rect.top() + rect.height() * 0.04, head, head))
        path.addRoundedRect(QRectF(rect.left() + rect.width() * 0.1, rect.top() + rect.height() * 0.04 + head * 1.05,
                                   rect.width() * 0.8, rect.height() * 0.96 - head * 1.05), 24, 24)
        painter.setPen(QPen(body.darker(160), 2))
        painter.setBrush(body)
        painter.drawPath(path)
        painter.setPen(QColor("white"))
        font = QFont(self.font().family(), max(9, int(rect.width() / 12)))
        font.setBold(True)
        painter.setFont(font)
        label = QRectF(rect.left(), rect.top() + rect.height() * 0.45, rect.width(), rect.height() * 0.2)
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, f"{name}\n{character.get('expression') or 'neutral'}")
