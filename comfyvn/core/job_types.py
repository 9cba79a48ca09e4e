"""What jobs are made of: states, job kinds, the context a handler sees, and the job record."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from comfyvn.core.errors import ComfyVNError, InvalidInput

QUEUED, DELAYED, RUNNING = "queued", "delayed", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
STATES = (QUEUED, DELAYED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})
PROGRESS_INTERVAL = 0.1  # seconds between progress notifications of one job
INTERRUPTED_REASON = "interrupted: the server stopped while this job was running"


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Callable[[JobContext], Any] | str  # a callable or "package.module:function"
    description: str
    isolation: Literal["thread", "process"] = "thread"
    params: type[BaseModel] | None = None
    owner: str = ""

    def resolve(self) -> Callable[[JobContext], Any]:
        return resolve_handler(self.handler)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "isolation": self.isolation,
            "owner": self.owner,
            "params_schema": self.params.model_json_schema() if self.params else None,
        }


def resolve_handler(handler: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(handler):
        return handler
    module_name, _, attr = handler.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class JobCancelled(Exception):
    """Raised inside a handler when its job was killed."""


class UnknownJobKind(InvalidInput):
    code = "unknown_job_kind"


class JobContext:
    """What a handler sees: its parameters, a cancel check, progress and log reporting."""

    def __init__(
        self,
        job_id: str,
        params: Any,
        *,
        on_progress: Callable[[float | None, str | None], None],
        on_log: Callable[[str], None],
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id
        self.params = params
        self._on_progress = on_progress
        self._on_log = on_log
        self._cancel = cancel_event or threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        """Report progress (0..1, or None for unknown) and stop here if the job was killed."""
        self.check_cancelled()
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._on_progress(fraction, message)

    def log(self, line: str) -> None:
        self._on_log(str(line))


@dataclass
class Job:
    id: str
    kind: str
    params: Any
    state: str
    priority: int = 0
    progress: float | None = 0.0
    message: str = ""
    result: Any = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    run_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: bool = False
    worker_pid: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "state": self.state,
            "priority": self.priority,
            "progress": self.progress,
            "message": self.message,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "run_at": self.run_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "cancel_requested": self.cancel_requested,
            "worker_pid": self.worker_pid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def describe(exc: BaseException) -> str:
    """The message a job shows for an error: ours as written, others with their type."""
    if isinstance(exc, ComfyVNError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
