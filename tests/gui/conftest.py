"""Studio tests: Qt offscreen (pytest-qt) against a real ComfyVN server on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6", reason="the Studio needs PySide6 (pip install -e .[gui])")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"  # for review; not committed


@pytest.fixture(scope="session", autouse=True)
def quiet_thread_pool() -> Iterator[None]:
    """Pictures decode on Qt's global thread pool: let it finish before Python shuts down (as the
    Studio's main() does), or a decode still running then can crash the interpreter."""
    yield
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(10000)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real server (``comfyvn serve``) with its own runtime folder."""
    from benchmarks.serve import server

    with server(tmp_path_factory.mktemp("studio-runtime")) as base:
        yield base


@pytest.fixture
def bridge(qtbot, live_server):
    from comfyvn.gui.bridge import ServerBridge

    made = ServerBridge(live_server)
    made.start()
    qtbot.waitUntil(lambda: made.online, timeout=10000)
    yield made
    made.stop()


def screenshot(widget, name: str) -> Path:
    """Save a picture of ``widget`` under build/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    widget.grab().save(str(path))
    return path
