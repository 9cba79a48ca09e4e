"""Log Hub against a real server: the server's system.log (a failing render job), the server /
render / gui sources, a log file picked from GET /api/logs, rotation, pause, the line cap."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import screenshot


@pytest.fixture(scope="module")
def server_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-runtime")


@pytest.fixture(scope="module")
def live_server(server_runtime: Path) -> Iterator[str]:
    """``comfyvn serve`` with a runtime folder this module knows (to write gui.log and other files)."""
    from benchmarks.serve import server

    with server(server_runtime) as base:
        yield base


@pytest.fixture
def server_logs(server_runtime: Path) -> Path:
    return server_runtime / "logs"


@pytest.fixture
def panel(qtbot, bridge):
    from comfyvn.gui.panels.logs import LogsPanel

    made = LogsPanel(bridge, poll_ms=200)
    qtbot.addWidget(made)
    made.resize(1100, 420)
    made.show()
    yield made
    made.hide()
    made.detach()


def choose(panel, key: str) -> None:
    panel.source.setCurrentIndex(panel.source.findData(key))


def pick(qtbot, panel, name: str) -> None:
    """Refresh the file list (F5) and pick ``name`` in the file box as a user would."""
    qtbot.keyClick(panel.filter, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: panel.picker.findData(name) >= 0, timeout=10000)
    panel.picker.setCurrentIndex(panel.picker.findData(name))
    panel.picker.activated.emit(panel.picker.currentIndex())


def test_readable_line_makes_json_lines_readable():
    from comfyvn.core.logs import readable_line as render_line

    text, logger, context = render_line('{"ts": "2026-11-24T12:58:53.491+00:00", "level": "ERROR", '
                                        '"logger": "comfyvn.core.jobs", "event": "Job failed", '
                                        '"context": {"job_id": "ab12", "job_kind": "render.background"}, '
                                        '"exc": "Traceback\\nValueError: x"}')
    assert re.fullmatch(r"\d\d:\d\d:\d\d ERROR comfyvn\.core\.jobs: Job failed job_id=ab12 "
                        r"job_kind=render\.background\n    Traceback\n    ValueError: x", text)
    assert logger == "comfyvn.core.jobs" and context["job_kind"] == "render.background"
    assert render_line("plain text {not json")[0] == "plain text {not json"


def test_log_hub_tails_system_log_and_switches_sources(qtbot, panel, live_server, server_logs, monkeypatch):
    from comfyvn.core.logs import add_log_file

    qtbot.waitUntil(lambda: "system.log" in panel.files, timeout=10000)
    # the server logs an error: a render job that fails (unknown project)
    answer = httpx.post(f"{live_server}/jobs/submit", timeout=10, json={
        "kind": "render.background", "params": {"project": "no-such-project", "provider": "builtin",
                                                 "location": "park"}})
    job_id = answer.json()["job"]["id"]
    failed = re.compile(r"\d\d:\d\d:\d\d ERROR comfyvn\.core\.jobs: Job failed .*job_id=" + job_id)
    qtbot.waitUntil(lambda: bool(failed.search(panel.visible_text())), timeout=20000)
    assert "uvicorn.error: Application startup complete." in panel.visible_text()

    choose(panel, "server")
    assert "Application startup complete." in panel.visible_text()
    assert "Job failed" not in panel.visible_text()
    choose(panel, "render")
    assert failed.search(panel.visible_text()) and job_id[:8] in panel.visible_text()  # record + job log
    assert "Application startup" not in panel.visible_text()
    choose(panel, "system")
    assert failed.search(panel.visible_text()) and "Application startup complete." in panel.visible_text()
    assert f"{job_id[:8]} |" not in panel.visible_text()  # job log lines are not system.log

    # gui.log: what a Studio writes to the shared log folder, read through the server
    monkeypatch.setenv("COMFYVN_LOG_DIR", str(server_logs))
    handler = add_log_file("gui.log", level=logging.WARNING)
    try:
        logging.getLogger("comfyvn.gui.hubtest").warning("hello from gui.log", extra={"pane": "viewer"})
        handler.flush()
        qtbot.keyClick(panel.filter, Qt.Key.Key_F5)  # the file list again: gui.log is new
        qtbot.keyClick(panel.filter, Qt.Key.Key_5, Qt.KeyboardModifier.AltModifier)  # Alt+5: gui.log
        assert panel.source.currentData() == "gui"
        qtbot.waitUntil(lambda: "WARNING comfyvn.gui.hubtest: hello from gui.log pane=viewer"
                        in panel.visible_text(), timeout=10000)
        assert "Job failed" not in panel.visible_text()
        choose(panel, "all")
        assert "hello from gui.log pane=viewer" not in panel.visible_text()  # the studio source has it live
        assert "hello from gui.log" in panel.visible_text() and failed.search(panel.visible_text())
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    qtbot.keyClicks(panel.filter, "job failed")
    assert failed.search(panel.visible_text()) and "Application startup" not in panel.visible_text()
    panel.filter.clear()
    choose(panel, "system")
    screenshot(panel, "log_hub")
    assert not panel.status.text().startswith("error"), panel.status.text()


def test_log_hub_picks_a_file_follows_rotation_pause_and_line_cap(qtbot, bridge, server_logs):
    from comfyvn.gui.panels.logs import LogsPanel

    panel = LogsPanel(bridge, poll_ms=200, max_lines=50)
    qtbot.addWidget(panel)
    panel.show()
    demo = server_logs / "export" / "demo.log"
    demo.parent.mkdir(parents=True, exist_ok=True)
    demo.write_text("".join(f"export line {n:03d}\n" for n in range(120)), encoding="utf-8")
    pick(qtbot, panel, "export/demo.log")
    assert panel.source.currentData() == "file"
    qtbot.waitUntil(lambda: "export line 119" in panel.visible_text(), timeout=10000)
    assert panel.view.blockCount() <= 50 and "export line 000" not in panel.visible_text()
    assert "Job failed" not in panel.visible_text()  # only the picked file

    with open(demo, "a", encoding="utf-8") as handle:  # follow: appended lines arrive
        handle.write("appended while following\n")
    qtbot.waitUntil(lambda: "appended while following" in panel.visible_text(), timeout=10000)

    demo.write_text("after rotation\n", encoding="utf-8")  # shorter than our offset: rotated
    qtbot.waitUntil(lambda: "after rotation" in panel.visible_text(), timeout=10000)
    assert "export/demo.log was rotated" in panel.visible_text()
    demo.rename(demo.with_name("demo.log.1"))  # a real rotation: a new file, already past our offset
    demo.write_text("".join(f"new file line {n:03d}\n" for n in range(10)), encoding="utf-8")
    qtbot.waitUntil(lambda: "new file line 009" in panel.visible_text(), timeout=10000)
    assert "new file line 000" in panel.visible_text()  # read from its start, nothing skipped

    qtbot.keyClick(panel.filter, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)  # Ctrl+P: pause
    assert panel.follow.isChecked() and not panel.timer.isActive()
    with open(demo, "a", encoding="utf-8") as handle:
        handle.write("written while paused\n")
    qtbot.mouseClick(panel.follow, Qt.MouseButton.LeftButton)  # follow again: polling resumes
    assert panel.timer.isActive()
    qtbot.waitUntil(lambda: "written while paused" in panel.visible_text(), timeout=10000)
    panel.hide()
    assert not panel.timer.isActive()
    panel.detach()


def test_log_hub_shows_server_errors(qtbot, panel, server_logs):
    gone = server_logs / "export" / "gone.log"
    gone.parent.mkdir(parents=True, exist_ok=True)
    gone.write_text("soon deleted\n", encoding="utf-8")
    qtbot.waitUntil(lambda: "system.log" in panel.files, timeout=10000)  # the first listing is in
    qtbot.mouseClick(panel.follow, Qt.MouseButton.LeftButton)  # paused: no periodic listing in between
    qtbot.keyClick(panel.filter, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: panel.picker.findData("export/gone.log") >= 0, timeout=10000)
    gone.unlink()  # deleted after the listing: picking it answers 404
    panel.picker.setCurrentIndex(panel.picker.findData("export/gone.log"))
    panel.picker.activated.emit(panel.picker.currentIndex())
    qtbot.waitUntil(lambda: "export/gone.log' was not found" in panel.status.text(), timeout=10000)
    assert panel.status.text().startswith("error:")
    assert "export/gone.log" not in panel.files  # dropped until a listing brings it back
