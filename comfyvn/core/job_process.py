"""Running a job handler in a child process (job kinds with ``isolation="process"``).

The child is spawned (safe beside the parent's threads), reports progress, log lines and its
outcome over a pipe, and exits by itself if the parent dies. Cancelling terminates it, then kills
it after two seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

from comfyvn.core.errors import ComfyVNError
from comfyvn.core.job_types import JobCancelled, JobContext, describe, resolve_handler


def run_in_process(
    handler_path: str,
    job_id: str,
    params: Any,
    *,
    cancel: threading.Event,
    on_progress: Callable[[float | None, str | None], None],
    on_log: Callable[[str], None],
    on_start: Callable[[Any], None] = lambda process: None,
) -> Any:
    """Run ``handler_path`` in a child process and return its result.

    Raises :class:`JobCancelled` when ``cancel`` is set (the child is terminated) and
    :class:`ComfyVNError` when the handler fails or the child dies.
    """
    mp = multiprocessing.get_context("spawn")
    receiver, sender = mp.Pipe(duplex=False)
    process = mp.Process(target=_child_main, args=(handler_path, job_id, params, sender), daemon=True)
    on_start(process)
    process.start()
    sender.close()
    outcome: tuple[str, Any] | None = None
    try:
        while outcome is None:
            if cancel.is_set() and process.is_alive():
                process.terminate()
            if receiver.poll(0.05):
                try:
                    message = receiver.recv()
                except EOFError:
                    break
                tag = message[0]
                if tag == "progress":
                    if not cancel.is_set():
                        on_progress(message[1], message[2])
                elif tag == "log":
                    on_log(message[1])
                else:
                    outcome = (tag, message[1:])
            elif not process.is_alive():
                break
        process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()
    finally:
        receiver.close()
    if cancel.is_set():
        raise JobCancelled()
    if outcome is None:
        raise ComfyVNError(f"the job process exited unexpectedly (exit code {process.exitcode})")
    tag, values = outcome
    if tag == "result":
        return values[0]
    if tag == "cancelled":
        raise JobCancelled()
    on_log(values[1])
    raise ComfyVNError(values[0])


def _exit_with_parent() -> None:
    """End this job process when the process that started it dies (e.g. a crashed server), so
    a job recovered as interrupted is not still running unseen."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns once the parent is gone
        os._exit(1)

    threading.Thread(target=watch, name="comfyvn-job-parent-watch", daemon=True).start()


def _child_main(handler_path: str, job_id: str, params: Any, conn: Any) -> None:
    """Entry point of a ``process`` job: runs the handler and reports over ``conn``."""
    _exit_with_parent()
    ctx = JobContext(
        job_id,
        params,
        on_progress=lambda fraction, message: conn.send(("progress", fraction, message)),
        on_log=lambda line: conn.send(("log", line)),
    )
    try:
        result = resolve_handler(handler_path)(ctx)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        json.dumps(result)
        conn.send(("result", result))
    except JobCancelled:
        conn.send(("cancelled",))
    except Exception as exc:
        conn.send(("error", describe(exc), traceback.format_exc()))
    finally:
        conn.close()
