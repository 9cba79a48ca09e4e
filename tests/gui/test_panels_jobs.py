"""Task Manager, Scheduler Board and Log Hub against a real server: jobs submitted over HTTP show up
live, a job is cancelled and retried through the right-click menu, the board follows the scheduler,
and the Log Hub tails job logs with a filter and a pause toggle."""

from __future__ import annotations

import httpx
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMenu

from tests.gui.conftest import screenshot


def submit(base: str, kind: str, params: dict, **extra) -> dict:
    answer = httpx.post(f"{base}/jobs/submit", json={"kind": kind, "params": params, **extra}, timeout=10)
    answer.raise_for_status()
    return answer.json()["job"]


def right_click_and_choose(qtbot, tree, item, label: str) -> list[str]:
    """Right-click ``item`` and trigger the menu entry ``label``; the menu's entries (enabled ones)."""
    seen: list[str] = []

    def choose() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, choose)
            return
        seen.extend(a.text() for a in menu.actions() if a.isEnabled())
        for action in menu.actions():
            if action.text() == label and action.isEnabled():
                menu.close()
                action.trigger()
                return
        menu.close()

    QTimer.singleShot(0, choose)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    tree.customContextMenuRequested.emit(rect.center())
    return seen


def test_task_manager_cancels_retries_and_shows_log(qtbot, bridge, live_server):
    from comfyvn.gui.panels.tasks import MESSAGE, STATE, TasksPanel

    panel = TasksPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    # a job that waits a minute before it runs: long enough to cancel it for sure
    waiting = submit(live_server, "system.diagnostics", {"include_logs": False}, delay=60)
    qtbot.waitUntil(lambda: waiting["id"] in panel.items, timeout=10000)
    item = panel.items[waiting["id"]]
    assert item.text(STATE) == "delayed" and panel.jobs[waiting["id"]]["params"] == {
        "include_logs": False, "max_log_bytes": 2000000}
    # a quick one that finishes, seen live through the events
    quick = submit(live_server, "system.diagnostics", {"include_logs": False})
    qtbot.waitUntil(lambda: quick["id"] in panel.items and panel.items[quick["id"]].text(STATE) == "succeeded",
                    timeout=20000)

    enabled = right_click_and_choose(qtbot, panel.tree, item, "Cancel")
    assert "Cancel" in enabled and "Retry" not in enabled
    qtbot.waitUntil(lambda: item.text(STATE) == "cancelled", timeout=10000)
    assert httpx.get(f"{live_server}/jobs/{waiting['id']}").json()["job"]["state"] == "cancelled"
    screenshot(panel, "tasks")

    # Retry resubmits the same kind and params as a new job
    before = set(panel.items)
    right_click_and_choose(qtbot, panel.tree, item, "Retry")
    qtbot.waitUntil(lambda: len(set(panel.items) - before) == 1, timeout=10000)
    (again,) = set(panel.items) - before
    qtbot.waitUntil(lambda: "params" in panel.jobs[again], timeout=10000)  # the full record follows the event
    assert panel.jobs[again]["kind"] == "system.diagnostics"
    assert panel.jobs[again]["params"]["include_logs"] is False
    qtbot.waitUntil(lambda: panel.items[again].text(STATE) == "succeeded", timeout=20000)

    # Show log opens a dialog with the job's lines
    right_click_and_choose(qtbot, panel.tree, panel.items[quick["id"]], "Show log")
    qtbot.waitUntil(lambda: bool(panel.dialogs) and panel.dialogs[-1].offset > 0, timeout=10000)
    dialog = panel.dialogs[-1]
    assert dialog.job_id == quick["id"] and dialog.text.toPlainText().strip()
    screenshot(dialog, "tasks_log")
    dialog.close()

    # the server's error reaches the status line: cancelling a finished job is a 409
    panel.cancel(quick["id"])
    qtbot.waitUntil(lambda: panel.status.text().startswith("error:"), timeout=10000)
    assert "already finished" in panel.status.text()
    assert panel.items[quick["id"]].text(MESSAGE) != ""


def test_task_manager_shortcut_cancels_selected_job(qtbot, bridge, live_server):
    from comfyvn.gui.panels.tasks import STATE, TasksPanel

    panel = TasksPanel(bridge)
    qtbot.addWidget(panel)
    panel.show()
    waiting = submit(live_server, "system.diagnostics", {}, delay=120)
    qtbot.waitUntil(lambda: waiting["id"] in panel.items, timeout=10000)
    panel.tree.setCurrentItem(panel.items[waiting["id"]])
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: panel.items[waiting["id"]].text(STATE) == "cancelled", timeout=10000)


def test_scheduler_board_refreshes_itself(qtbot, bridge, live_server):
    from comfyvn.gui.panels.scheduler import SchedulerPanel

    panel = SchedulerPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1000, 300)
    panel.show()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() >= 1, timeout=10000)
    row = {panel.tree.topLevelItem(i).text(0): panel.tree.topLevelItem(i)
           for i in range(panel.tree.topLevelItemCount())}
    assert "builtin" in row and row["builtin"].text(1) == "healthy"

    def builtin() -> list[str]:
        for i in range(panel.tree.topLevelItemCount()):
            item = panel.tree.topLevelItem(i)
            if item.text(0) == "builtin":
                return [item.text(c) for c in range(item.columnCount())]
        return []

    done_before = int(builtin()[5])
    api = f"{live_server}/api/schedule"
    job = httpx.post(f"{api}/enqueue", json={"kind": "render", "device": "builtin"}).json()
    qtbot.waitUntil(lambda: builtin()[4] == "1", timeout=10000)  # queued, seen without a click
    claimed = httpx.post(f"{api}/claim", json={"device": "builtin"}).json()["job"]
    assert claimed["id"] == job["id"]
    qtbot.waitUntil(lambda: builtin()[3] == "1/1", timeout=10000)  # running
    httpx.post(f"{api}/complete", json={"job_id": job["id"], "metrics": {"duration_sec": 1.5, "vram_gb": 8}})
    qtbot.waitUntil(lambda: builtin()[5] == str(done_before + 1), timeout=10000)
    assert builtin()[3] == "0/1" and builtin()[7] != "-"
    assert "device(s)" in panel.summary.text()
    screenshot(panel, "scheduler")
    panel.hide()
    assert not panel.timer.isActive()


def test_log_hub_tails_job_logs_with_filter_and_pause(qtbot, bridge, live_server):
    import logging

    from comfyvn.gui.panels.logs import LogsPanel

    panel = LogsPanel(bridge, poll_ms=200)
    qtbot.addWidget(panel)
    panel.resize(1000, 360)
    panel.show()
    diagnostics = submit(live_server, "system.diagnostics", {"include_logs": False})
    render = submit(live_server, "render.background", {"project": "no-such-project", "provider": "builtin",
                                                       "location": "park"})
    qtbot.waitUntil(lambda: diagnostics["id"][:8] in panel.visible_text()
                    and render["id"][:8] in panel.visible_text(), timeout=20000)
    assert "no-such-project" in panel.visible_text()  # the failed render's traceback

    # the Studio's own log records arrive from any thread
    logging.getLogger("comfyvn.gui.hubtest").warning("hello from the studio")
    qtbot.waitUntil(lambda: "hello from the studio" in panel.visible_text(), timeout=5000)

    # filter: typed into the box, only matching lines stay
    qtbot.keyClicks(panel.filter, "wrote")
    assert diagnostics["id"][:8] in panel.visible_text()
    assert render["id"][:8] not in panel.visible_text() and "hello from" not in panel.visible_text()
    panel.filter.clear()
    panel.source.setCurrentIndex(panel.source.findData("render"))
    assert render["id"][:8] in panel.visible_text() and diagnostics["id"][:8] not in panel.visible_text()
    panel.source.setCurrentIndex(panel.source.findData("all"))
    screenshot(panel, "logs")

    # pause: new lines wait until Follow is pressed again
    qtbot.mouseClick(panel.follow, Qt.MouseButton.LeftButton)
    assert panel.follow.isChecked()
    frozen = panel.visible_text()
    later = submit(live_server, "system.diagnostics", {"include_logs": False})
    qtbot.waitUntil(lambda: any(later["id"][:8] in text for _, text in panel.lines), timeout=20000)
    assert panel.visible_text() == frozen and panel.pending > 0 and "new" in panel.follow.text()
    qtbot.mouseClick(panel.follow, Qt.MouseButton.LeftButton)
    assert later["id"][:8] in panel.visible_text() and panel.follow.text() == "Pause"
    panel.hide()
    assert not panel.timer.isActive()
    panel.detach()


def test_panels_dock_in_the_main_window_at_1280x720(qtbot, bridge):
    from comfyvn.gui.main_window import MainWindow, Panel
    from comfyvn.gui.panels.logs import LogsPanel
    from comfyvn.gui.panels.scheduler import SchedulerPanel
    from comfyvn.gui.panels.tasks import TasksPanel

    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    window = MainWindow(bridge, [Panel("tasks", "Task Manager", TasksPanel, bottom, "Ctrl+Shift+T"),
                                 Panel("scheduler", "Scheduler Board", SchedulerPanel, bottom, "Ctrl+Shift+B"),
                                 Panel("logs", "Log Hub", LogsPanel, bottom, "Ctrl+Shift+L")])
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.show()
    logs = window.docks["logs"].widget()
    qtbot.waitUntil(lambda: window.docks["scheduler"].widget().refreshes > 0, timeout=10000)
    screenshot(window, "panels_jobs_window")
    for dock in window.docks.values():
        dock.widget().hide()
    logs.detach()
