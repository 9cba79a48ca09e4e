"""Pictures decoded off the UI thread: bytes from the server become a QImage on a worker of Qt's
global thread pool and come back to the UI thread through a signal (QImage, unlike QPixmap, may be
made on any thread; the cheap QImage -> QPixmap step stays on the UI thread). Used by the viewer's
stage and the asset thumbnails. The app waits for the pool at exit (comfyvn/gui/app.py)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader
from shiboken6 import isValid


def decode_image(data: bytes) -> QImage:
    """Decode image bytes (runs on a pool thread: QImage, unlike QPixmap, may be made off the UI thread).
    Through QImageReader on a buffer: unlike ``QImage.fromData`` it lets go of Python's lock while it
    decodes, so the UI thread keeps running (``fromData`` froze it for the whole decode)."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return QImageReader(buffer).read()


class _Decoder(QObject):
    """Hands images decoded on pool threads back to the UI thread (one for the application, made
    on the UI thread by the first download; never deleted, so pool threads can always emit on it)."""

    decoded = Signal(object, object)  # callback, QImage: runs callback(image) on the UI thread

    def __init__(self) -> None:
        super().__init__()
        self.decoded.connect(self._run)

    def _run(self, callback: Any, image: QImage) -> None:
        callback(image)


_decoder: _Decoder | None = None


def decode_later(data: bytes, owner: QObject | None, on_done: Any) -> None:
    """Decode ``data`` on a pool thread; ``on_done(QImage)`` runs on the UI thread unless ``owner``
    was deleted meanwhile. Call it on the UI thread."""
    global _decoder
    if _decoder is None:
        _decoder = _Decoder()
    relay = _decoder

    def deliver(image: QImage) -> None:
        if owner is None or isValid(owner):
            on_done(image)

    QThreadPool.globalInstance().start(lambda: relay.decoded.emit(deliver, decode_image(data)))
