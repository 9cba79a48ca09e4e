"""The viewer's Export button: runs the ``export.renpy`` job without blocking, follows it through
the hook-bus job events, and then offers to launch the exported game in Ren'Py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget
from shiboken6 import isValid

from comfyvn.gui.bridge import BridgeError, ServerBridge


class ExportControl(QWidget):
    """[Export] [Launch in Ren'Py]. ``options`` go into the job's params beside ``project``
    (``{"lint": False}``, ``{"out": "/tmp/game"}``, ...). ``report(text, error)`` shows progress."""

    finished = Signal(str, dict)  # state ("succeeded"/"failed"/"cancelled"), the job

    def __init__(self, bridge: ServerBridge, project: str, report: Callable[[str, bool], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.project, self._report = bridge, project, report
        self.options: dict[str, Any] = {}
        self.job_id: str | None = None
        self.state = ""  # "", "submitting", "running", "succeeded", "failed", "cancelled"
        self.out: str | None = None
        self.launched: dict[str, Any] | None = None
        self._early: dict[str, dict[str, Any]] = {}  # finish events seen before our POST answered
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.export_button = QPushButton("Export to Ren'Py")
        self.export_button.setToolTip("Export this project as a Ren'Py game (a background job)")
        self.export_button.clicked.connect(self.export)
        self.launch_button = QPushButton("Launch in Ren'Py")
        self.launch_button.setToolTip("Play the exported game in Ren'Py (Ctrl+R)")
        self.launch_button.setEnabled(False)
        self.launch_button.clicked.connect(self.launch)
        row.addWidget(self.export_button)
        row.addWidget(self.launch_button)
        bridge.event.connect(self._on_event)

    def export(self) -> None:
        if self.state in ("submitting", "running"):
            return
        self.state, self.job_id, self.out = "submitting", None, None
        self.export_button.setEnabled(False)
        self.launch_button.setEnabled(False)
        self._report("Export: submitting the job...", False)
        self.bridge.post("/api/export/renpy", {"project": self.project, **self.options},
                         on_done=self._submitted, on_error=self._failed, owner=self)

    def _submitted(self, answer: dict[str, Any]) -> None:
        if not isValid(self):  # the pane was closed before the answer came
            return
        self.job_id = str(answer["job_id"])
        self.state = "running"
        self._report(f"Export: job {self.job_id[:8]} queued", False)
        if self.job_id in self._early:
            self._finish(self._early.pop(self.job_id))
        else:  # the job may have ended before we knew its id: ask once
            self.bridge.get(f"/jobs/{self.job_id}", on_done=lambda a: self._check(a.get("job") or {}),
                            on_error=self._failed, owner=self)

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        job = str(payload.get("job_id") or "")
        if payload.get("kind") != "export.renpy" or not job:
            return
        if name == "on_job_finished" and self.state == "submitting":
            self._early[job] = payload
        elif job != self.job_id or self.state != "running":
            return
        elif name == "on_job_progress":
            percent = int(100 * float(payload.get("progress") or 0))
            self._report(f"Export: {percent}% {payload.get('message') or ''}".rstrip(), False)
        elif name == "on_job_started":
            self._report("Export: running...", False)
        elif name == "on_job_finished":
            self._finish(payload)

    def _check(self, job: dict[str, Any]) -> None:
        if not isValid(self):  # the pane was closed before the answer came
            return
        if self.state == "running" and job.get("state") in ("succeeded", "failed", "cancelled"):
            self._finish({"state": job["state"], "error": job.get("error")})

    def _finish(self, payload: dict[str, Any]) -> None:
        if self.state != "running":
            return
        state = str(payload.get("state"))
        if state != "succeeded":
            self.state = state
            self.export_button.setEnabled(True)
            self._report(f"Export {state}: {payload.get('error') or 'see the job log in the Task Manager'}", True)
            self.finished.emit(state, payload)
            return
        self.state = "fetching"
        self.bridge.get(f"/jobs/{self.job_id}", on_done=lambda a: self._succeeded(a.get("job") or {}),
                        on_error=self._failed, owner=self)

    def _succeeded(self, job: dict[str, Any]) -> None:
        if not isValid(self):  # the pane was closed before the answer came
            return
        result = job.get("result") or {}
        self.out = result.get("out")
        self.state = "succeeded"
        self.export_button.setEnabled(True)
        self.launch_button.setEnabled(bool(self.out))
        lint = result.get("lint")
        lint_note = "" if not isinstance(lint, dict) else (
            " (lint clean)" if lint.get("ok") else f" (lint: {len(lint.get('errors') or [])} error(s))")
        self._report(f"Exported to {self.out}{lint_note}. Launch it in Ren'Py (Ctrl+R)?", False)
        self.finished.emit("succeeded", job)

    def _failed(self, error: BridgeError) -> None:
        if not isValid(self):  # the pane was closed before the answer came
            return
        self.state = "failed"
        self.export_button.setEnabled(True)
        self._report(f"Export failed: {error.message}", True)

    def launch(self) -> None:
        if not self.out:
            self._report("Export the project first: there is no game to launch yet.", True)
            return
        self._report("Launching the game in Ren'Py...", False)
        self.bridge.post("/api/viewer/start", {"project_path": self.out}, on_done=self._launched, owner=self,
                         on_error=lambda error: self._report(f"Cannot launch Ren'Py: {error.message}", True))

    def _launched(self, answer: dict[str, Any]) -> None:
        self.launched = answer
        self._report(f"Ren'Py is running the game (pid {answer.get('pid')}).", False)
