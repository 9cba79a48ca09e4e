"""A real ComfyVN server process on a loopback port, for the benchmarks that measure over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def server(runtime: Path | str, *, app: str | None = None, timeout: float = 60.0) -> Iterator[str]:
    """``with server(runtime_root) as base_url:`` the app (``create_app``, or the factory ``app``
    names) served by ``comfyvn serve`` until the block ends."""
    from comfyvn.config.baseurl_authority import find_open_port

    port = find_open_port("127.0.0.1", 0)
    env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(runtime), "COMFYVN_LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "comfyvn", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if app:
        command += ["--app", app, "--factory"]
    errors = Path(runtime) / "server-stderr.log"  # a file: a pipe nobody reads could fill and stall the server
    errors.parent.mkdir(parents=True, exist_ok=True)
    with open(errors, "wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise SystemExit(f"the server did not start: {errors.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)
