"""Answers reaching deleted widgets: a panel asks the server, is deleted before the answers come,
and the answers are dropped (no "Internal C++ object already deleted" reaching sys.excepthook).

``answers_after_deletion`` is shared with the viewer, timeline and import dialog tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from comfyvn.gui.panels.flags import FlagsPanel
from comfyvn.gui.panels.inspectors import (
    CharactersInspector,
    ScenesInspector,
    TimelineInspector,
)

WAIT = 20000


def answers_after_deletion(qtbot, bridge, monkeypatch, make: Callable[[], QWidget],
                           delete: Callable[[QWidget], object] = QWidget.deleteLater) -> int:
    """Make a widget that has asked the server something, delete it at once (``deleteLater``, or
    ``delete(widget)``: closing one with WA_DeleteOnClose), let every answer come, and return how
    many came after the deletion. Fails the test when an exception reached ``sys.excepthook``
    meanwhile (a callback touching the deleted widget)."""
    futures = []
    request = bridge.request

    def recording(*args, **kwargs):
        future = request(*args, **kwargs)
        futures.append(future)
        return future

    monkeypatch.setattr(bridge, "request", recording)
    made: list[QWidget] = []
    alive_at_delivery: list[bool] = []

    def delivered(_callback, _value) -> None:  # runs after the bridge's own slot for each answer
        if made:
            alive_at_delivery.append(isValid(made[0]))

    bridge._deliver.connect(delivered)
    try:
        with qtbot.captureExceptions() as exceptions:
            made.append(make())
            assert futures, "the widget asked the server nothing"
            with qtbot.waitSignal(made[0].destroyed, timeout=WAIT):
                delete(made[0])
            qtbot.waitUntil(lambda: all(f.done() for f in futures), timeout=WAIT)
            flushed: list[object] = []  # answered after all of the above, so delivered after them too
            bridge.get("/health", on_done=flushed.append, on_error=flushed.append)
            qtbot.waitUntil(lambda: bool(flushed), timeout=WAIT)
    finally:
        bridge._deliver.disconnect(delivered)
    assert not exceptions, "\n".join(f"{kind.__name__}: {value}" for kind, value, _tb in exceptions)
    return alive_at_delivery.count(False)


def test_inspectors_drop_answers_after_they_are_deleted(qtbot, bridge, live_server, monkeypatch):
    scene = {"id": "gone_soon", "title": "Gone soon", "start": "a", "nodes": [{"id": "a", "text": "Hi."}]}
    assert httpx.post(f"{live_server}/api/scenes", json=scene).status_code in (201, 409)
    assert httpx.post(f"{live_server}/api/timelines", json={"id": "gone_route", "title": "Route",
                                                            "scenes": ["gone_soon"]}).status_code in (201, 409)
    for kind in (ScenesInspector, CharactersInspector, TimelineInspector):
        def make(kind=kind) -> QWidget:
            inspector = kind(bridge)
            inspector.show()
            inspector.refresh()  # the list; its answer asks for each record (and the validator) in turn
            return inspector

        assert answers_after_deletion(qtbot, bridge, monkeypatch, make) >= 1, kind.__name__


def test_an_inspector_follows_records_until_it_is_deleted(qtbot, bridge, live_server, monkeypatch):
    """Records asked for by a live list answer after the list is gone: every one is dropped."""
    for n in range(5):
        httpx.post(f"{live_server}/api/scenes", json={"id": f"many_{n}", "title": f"Many {n}", "start": "a",
                                                      "nodes": [{"id": "a", "text": "Hi."}]})
    inspector = ScenesInspector(bridge)
    inspector.show()
    qtbot.waitUntil(lambda: "many_4" in inspector.ids(), timeout=WAIT)

    def make() -> QWidget:
        inspector._listed(inspector._generation, {"items": [{"id": f"many_{n}"} for n in range(5)]})
        return inspector  # five record requests (and then validations) under way

    assert answers_after_deletion(qtbot, bridge, monkeypatch, make) >= 1


def test_flags_panel_drops_answers_after_it_is_deleted(qtbot, bridge, monkeypatch):
    def make() -> QWidget:
        panel = FlagsPanel(bridge)  # asks for the flags at once
        panel.show()
        return panel

    assert answers_after_deletion(qtbot, bridge, monkeypatch, make) >= 1
