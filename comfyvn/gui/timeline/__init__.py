"""The Timeline Workshop (a node editor of a scene graph) and the Scenario Runner dock.

    from comfyvn.gui.timeline import install
    install(window)   # the "timeline" centre pane (Ctrl+3) and the "runner" dock (Ctrl+Shift+R)
"""

from __future__ import annotations

from typing import Any

from comfyvn.gui.timeline.runner import RunnerDock
from comfyvn.gui.timeline.workshop import WorkshopPane

__all__ = ["RunnerDock", "WorkshopPane", "install"]


def install(window: Any, project: str = "default") -> None:
    """Register the Workshop as the ``timeline`` pane of a MainWindow and add the Runner dock
    (which follows that pane; the pane is made when the dock is)."""
    from comfyvn.gui.main_window import Panel

    window.add_pane("timeline", lambda: WorkshopPane(window.bridge, project), title="Timeline Workshop",
                    shortcut="Ctrl+3")
    window.add_panel(Panel("runner", "Scenario Runner",
                           lambda bridge: RunnerDock(bridge, window.router.pane("timeline")),
                           shortcut="Ctrl+Shift+R"))
